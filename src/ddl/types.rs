//! MySQL column type → StarRocks column type (starrocks.md §5.3), and which type changes
//! StarRocks' schema change accepts (`SchemaChangeTypeCompatibility`, `Column
//! .checkSchemaChangeAllowed`; the same rules starrocks-sim enforces).
//!
//! Choices where §5.3 leaves one, always the lossless one:
//! - `tinyint(1)` / `bool` → TINYINT (a MySQL BOOL holds any TINYINT value; decoded as such).
//! - Lengths are bytes in StarRocks and characters in MySQL: ×4 for utf8mb4.
//! - `decimal(p,s)` with p > 38 → VARCHAR(p+2) holding the exact text.
//! - Key columns get a key type: CHAR → VARCHAR, DECIMAL(p,0) → BIGINT (p ≤ 18) or LARGEINT
//!   (p ≤ 38), other DECIMAL and binary → VARCHAR (text / hex); FLOAT, DOUBLE, JSON and spatial
//!   types cannot be keys.

use thiserror::Error;

use crate::decode::TypeParts;
use crate::schema::{MAX_VARCHAR_LEN, StarRocksType};

/// Whether a column is part of the table's key (StarRocks restricts key types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Key,
    Value,
}

/// Why a source type has no StarRocks type.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TypeError {
    #[error("source type `{0}` has no StarRocks counterpart")]
    Unknown(String),
    #[error("source type `{0}` cannot be a StarRocks key column ({1})")]
    NotAKey(String, &'static str),
}

/// Longest text of a MySQL TIME value as the decoder writes it: `-838:59:59.000000`.
const TIME_TEXT_LEN: u32 = 17;
/// Longest StarRocks DECIMAL precision before 4.0.
const MAX_DECIMAL_PRECISION: u32 = 38;
/// Bytes per character of utf8mb4.
const BYTES_PER_CHAR: u32 = 4;

/// The StarRocks type for a column of source type `text` (`varchar(20)`, `int unsigned`,
/// `enum('a','b')`; MySQL's aliases too) in the given role.
pub fn starrocks_type(text: &str, role: Role) -> Result<StarRocksType, TypeError> {
    let parts = TypeParts::of(text);
    let name = parts.name.to_ascii_lowercase();
    let nums: Vec<u32> = parts
        .args
        .map(|a| a.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_default();
    let unknown = || TypeError::Unknown(text.trim().to_string());
    let ty = match name.as_str() {
        "tinyint" | "int1" | "bool" | "boolean" | "smallint" | "int2" | "mediumint" | "int3"
        | "middleint" | "int" | "integer" | "int4" | "bigint" | "int8" | "serial" => {
            integer(&name, parts.unsigned)
        }
        "decimal" | "dec" | "numeric" | "fixed" => decimal(&nums, role),
        "float" | "float4" if nums.first().is_some_and(|p| *p > 24) => StarRocksType::Double,
        "float" | "float4" => StarRocksType::Float,
        "double" | "real" | "float8" => StarRocksType::Double,
        "bit" => match nums.first().copied().unwrap_or(1) {
            1 => StarRocksType::Boolean,
            n if n < 64 => StarRocksType::BigInt,
            _ => StarRocksType::LargeInt,
        },
        "year" => StarRocksType::SmallInt,
        "date" => StarRocksType::Date,
        "datetime" | "timestamp" => StarRocksType::DateTime,
        "time" => StarRocksType::Varchar(TIME_TEXT_LEN),
        "char" | "nchar" | "character" => char_type(nums.first().copied().unwrap_or(1), role),
        "varchar" | "nvarchar" => varchar(nums.first().copied().unwrap_or(1)),
        "tinytext" => StarRocksType::Varchar(255),
        "text" => StarRocksType::Varchar(65_535),
        "mediumtext" | "longtext" | "long" => StarRocksType::Varchar(MAX_VARCHAR_LEN),
        "binary" | "varbinary" => binary(nums.first().copied().unwrap_or(1), role),
        "tinyblob" => binary(255, role),
        "blob" => binary(65_535, role),
        "mediumblob" | "longblob" => binary(MAX_VARCHAR_LEN, role),
        "json" => StarRocksType::Json,
        "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
        | "multipolygon" | "geometrycollection" | "geomcollection" => {
            StarRocksType::VarBinary(Some(MAX_VARCHAR_LEN))
        }
        "enum" | "set" => labels(&name, parts.labels.as_deref()).ok_or_else(unknown)?,
        _ => return Err(unknown()),
    };
    if role == Role::Key && !ty.allowed_in_key() {
        return Err(TypeError::NotAKey(
            text.trim().to_string(),
            "StarRocks keys are integers, strings, dates and datetimes",
        ));
    }
    Ok(ty)
}

/// The integer families; `unsigned` moves a type up one size so every value fits.
fn integer(name: &str, unsigned: bool) -> StarRocksType {
    match (name, unsigned) {
        ("bool" | "boolean", _) => StarRocksType::TinyInt,
        ("tinyint" | "int1", false) => StarRocksType::TinyInt,
        ("tinyint" | "int1", true) | ("smallint" | "int2", false) => StarRocksType::SmallInt,
        ("smallint" | "int2", true) | ("mediumint" | "int3" | "middleint", _) => StarRocksType::Int,
        ("int" | "integer" | "int4", false) => StarRocksType::Int,
        ("int" | "integer" | "int4", true) | ("bigint" | "int8", false) => StarRocksType::BigInt,
        // `bigint unsigned` and MySQL's SERIAL (BIGINT UNSIGNED) need 128 bits.
        _ => StarRocksType::LargeInt,
    }
}

fn decimal(nums: &[u32], role: Role) -> StarRocksType {
    let (p, s) = match nums {
        [] => (10, 0),
        [p] => (*p, 0),
        [p, s, ..] => (*p, *s),
    };
    let p = p.clamp(1, 65);
    let s = s.min(p);
    // The exact text: digits, sign, decimal point.
    let text = StarRocksType::Varchar(p + 2);
    match role {
        Role::Key if s == 0 && p <= 18 => StarRocksType::BigInt,
        Role::Key if s == 0 && p <= MAX_DECIMAL_PRECISION => StarRocksType::LargeInt,
        Role::Key => text,
        Role::Value if p <= MAX_DECIMAL_PRECISION => StarRocksType::Decimal {
            precision: p as u8,
            scale: s as u8,
        },
        Role::Value => text,
    }
}

fn varchar(chars: u32) -> StarRocksType {
    StarRocksType::Varchar(
        chars
            .max(1)
            .saturating_mul(BYTES_PER_CHAR)
            .min(MAX_VARCHAR_LEN),
    )
}

/// CHAR(n) holds n characters: CHAR(4n) while that fits StarRocks' CHAR (255 bytes), else a
/// VARCHAR; keys are always VARCHAR (StarRocks refuses CHAR keys).
fn char_type(chars: u32, role: Role) -> StarRocksType {
    let bytes = chars.max(1).saturating_mul(BYTES_PER_CHAR);
    if role == Role::Value && bytes <= 255 {
        StarRocksType::Char(bytes)
    } else {
        varchar(chars)
    }
}

/// Binary values load as VARBINARY, or as upper-case hex text into a key VARCHAR (the encoder's
/// rule), which takes two characters per byte.
fn binary(bytes: u32, role: Role) -> StarRocksType {
    let bytes = bytes.clamp(1, MAX_VARCHAR_LEN);
    match role {
        Role::Value => StarRocksType::VarBinary(Some(bytes)),
        Role::Key => StarRocksType::Varchar(bytes.saturating_mul(2).min(MAX_VARCHAR_LEN)),
    }
}

/// ENUM values are one label, SET values labels joined by commas.
fn labels(name: &str, labels: Option<&[Box<str>]>) -> Option<StarRocksType> {
    let labels = labels?;
    let chars = labels.iter().map(|l| l.chars().count() as u32);
    let longest = if name == "enum" {
        chars.max().unwrap_or(0)
    } else {
        chars.sum::<u32>() + labels.len().saturating_sub(1) as u32
    };
    Some(varchar(longest.max(1)))
}

/// Whether StarRocks' MODIFY COLUMN can turn `from` into `to`: its schema-change matrix, the
/// DECIMAL rules, "Cannot shorten string length" and the string size of a number
/// (`getColumnStringRepSize`).
pub fn schema_change_allowed(from: &StarRocksType, to: &StarRocksType) -> bool {
    use StarRocksType as T;
    if from == to {
        return true;
    }
    if let (Some(f), Some(t)) = (string_len(from), string_len(to)) {
        return t >= f && !matches!((from, to), (T::Varchar(_), T::Char(_)));
    }
    match (from, to) {
        (
            T::Decimal {
                precision: p1,
                scale: s1,
            },
            T::Decimal {
                precision: p2,
                scale: s2,
            },
        ) => s1 <= s2 && p1 - s1 <= p2 - s2,
        (_, T::Varchar(n)) if number_text_len(from).is_some() => {
            number_text_len(from).is_some_and(|len| len <= *n)
        }
        _ => {
            rank(from).zip(rank(to)).is_some_and(|(f, t)| f < t)
                || matches!(
                    (from, to),
                    (
                        T::TinyInt | T::SmallInt | T::Int | T::BigInt | T::Float,
                        T::Double
                    ) | (T::Int, T::Date)
                        | (T::Date, T::DateTime)
                        | (T::DateTime, T::Date)
                        | (T::Json, T::Varchar(_))
                        | (T::Varchar(_), T::Json)
                        | (T::Varchar(_), T::TinyInt | T::SmallInt | T::Int | T::BigInt)
                        | (T::Varchar(_), T::LargeInt | T::Float | T::Double | T::Date)
                        | (T::Varchar(_), T::Decimal { .. })
                )
        }
    }
}

/// Whether every value of `new` fits a column of type `current` unchanged, so a source change
/// to `new` needs nothing in StarRocks (a narrowing at the source, or a change already made).
pub fn holds(current: &StarRocksType, new: &StarRocksType) -> bool {
    use StarRocksType as T;
    if current == new {
        return true;
    }
    if let (Some(c), Some(n)) = (rank(current), rank(new)) {
        return c >= n;
    }
    match (current, new) {
        (T::Varchar(c), T::Varchar(n) | T::Char(n)) | (T::Char(c), T::Char(n)) => c >= n,
        (T::VarBinary(c), T::VarBinary(n)) => {
            c.unwrap_or(MAX_VARCHAR_LEN) >= n.unwrap_or(MAX_VARCHAR_LEN)
        }
        (T::Double, T::Float) => true,
        (
            T::Decimal {
                precision: p1,
                scale: s1,
            },
            T::Decimal {
                precision: p2,
                scale: s2,
            },
        ) => s1 >= s2 && p1 - s1 >= p2 - s2,
        _ => false,
    }
}

/// The integers by width (BOOLEAN is not one: StarRocks converts it to nothing).
fn rank(ty: &StarRocksType) -> Option<u8> {
    match ty {
        StarRocksType::TinyInt => Some(1),
        StarRocksType::SmallInt => Some(2),
        StarRocksType::Int => Some(3),
        StarRocksType::BigInt => Some(4),
        StarRocksType::LargeInt => Some(5),
        _ => None,
    }
}

fn string_len(ty: &StarRocksType) -> Option<u32> {
    match ty {
        StarRocksType::Char(n) | StarRocksType::Varchar(n) => Some(*n),
        _ => None,
    }
}

/// Characters a number type needs as text (StarRocks' `getColumnStringRepSize`: precision + 1
/// for the sign, + 1 for a decimal point; FLOAT 24, DOUBLE 32); `None` for other types.
fn number_text_len(ty: &StarRocksType) -> Option<u32> {
    match ty {
        StarRocksType::TinyInt => Some(4),
        StarRocksType::SmallInt => Some(6),
        StarRocksType::Int => Some(11),
        StarRocksType::BigInt => Some(20),
        StarRocksType::LargeInt => Some(40),
        StarRocksType::Float => Some(24),
        StarRocksType::Double => Some(32),
        StarRocksType::Decimal { precision, .. } => Some(u32::from(*precision) + 2),
        _ => None,
    }
}
