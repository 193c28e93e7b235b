//! StarRocks column types, stored values and the per-value conversion rules a Stream Load
//! applies (spec §1.5, §6, §9.2). Conversions follow StarRocks, not MySQL: byte lengths for
//! strings, month/day 0 rejected, 0000-01-01..9999-12-31 date range, numbers refused for DATETIME.

use crate::jsonval::JVal;
use std::cmp::Ordering;
use std::fmt::Write as _;

/// Maximum bytes of one JSON column value (StarRocks JSON type doc: 16 MB).
const JSON_VALUE_MAX: usize = 16 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColType {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    LargeInt,
    Float,
    Double,
    Decimal {
        precision: u8,
        scale: u8,
    },
    Char(u32),
    Varchar(u32),
    /// `STRING` is VARCHAR(65533) but keeps its spelling in SHOW CREATE TABLE.
    String,
    Date,
    DateTime,
    Json,
    Varbinary(u32),
}

impl ColType {
    /// Builds a type from its SQL name and the optional `(a[, b])` arguments.
    pub fn from_sql(name: &str, args: &[u64]) -> Result<ColType, String> {
        let a0 = args.first().copied();
        let ty = match name.to_ascii_uppercase().as_str() {
            "BOOLEAN" | "BOOL" => ColType::Boolean,
            "TINYINT" => ColType::TinyInt,
            "SMALLINT" => ColType::SmallInt,
            "INT" | "INTEGER" => ColType::Int,
            "BIGINT" => ColType::BigInt,
            "LARGEINT" => ColType::LargeInt,
            "FLOAT" => ColType::Float,
            "DOUBLE" => ColType::Double,
            "DECIMAL" | "DECIMALV2" | "DECIMAL32" | "DECIMAL64" | "DECIMAL128" | "NUMERIC" => {
                let precision = a0.unwrap_or(10);
                let scale = args.get(1).copied().unwrap_or(0);
                if !(1..=38).contains(&precision) {
                    return Err(format!(
                        "DECIMAL's precision should range from 1 to 38, but got {precision}"
                    ));
                }
                if scale > precision {
                    return Err(format!(
                        "DECIMAL's scale should be not greater than precision, scale={scale}, precision={precision}"
                    ));
                }
                ColType::Decimal {
                    precision: precision as u8,
                    scale: scale as u8,
                }
            }
            "CHAR" => {
                let n = a0.unwrap_or(1);
                if !(1..=255).contains(&n) {
                    return Err(format!(
                        "Char size must between 1 and 255. Size was set to: {n}."
                    ));
                }
                ColType::Char(n as u32)
            }
            "VARCHAR" => {
                let n = a0.unwrap_or(1);
                if !(1..=1_048_576).contains(&n) {
                    return Err(format!(
                        "VarChar size must between 1 and 1048576. Size was set to: {n}."
                    ));
                }
                ColType::Varchar(n as u32)
            }
            "STRING" | "TEXT" => ColType::String,
            "DATE" => ColType::Date,
            "DATETIME" | "TIMESTAMP" => ColType::DateTime,
            "JSON" => ColType::Json,
            "VARBINARY" | "BINARY" => ColType::Varbinary(a0.unwrap_or(1_048_576) as u32),
            other => return Err(format!("Unknown type '{}'", other.to_ascii_lowercase())),
        };
        Ok(ty)
    }

    /// Spelling in `DESC` (StarRocks 3.x style).
    pub fn desc_name(&self) -> String {
        match self {
            ColType::Boolean => "boolean".into(),
            ColType::TinyInt => "tinyint(4)".into(),
            ColType::SmallInt => "smallint(6)".into(),
            ColType::Int => "int(11)".into(),
            ColType::BigInt => "bigint(20)".into(),
            ColType::LargeInt => "largeint(40)".into(),
            ColType::Float => "float".into(),
            ColType::Double => "double".into(),
            ColType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            ColType::Char(n) => format!("char({n})"),
            ColType::Varchar(n) => format!("varchar({n})"),
            ColType::String => "varchar(65533)".into(),
            ColType::Date => "date".into(),
            ColType::DateTime => "datetime".into(),
            ColType::Json => "json".into(),
            ColType::Varbinary(n) => format!("varbinary({n})"),
        }
    }

    /// Spelling in `SHOW CREATE TABLE`.
    pub fn ddl_name(&self) -> String {
        match self {
            ColType::Decimal { precision, scale } => format!("decimal({precision}, {scale})"),
            ColType::String => "varchar(65533)".into(),
            other => other.desc_name(),
        }
    }

    /// `information_schema.columns` DATA_TYPE, with StarRocks' MySQL-compat quirks (§5.6).
    pub fn info_data_type(&self) -> &'static str {
        match self {
            ColType::Boolean | ColType::TinyInt => "tinyint",
            ColType::SmallInt => "smallint",
            ColType::Int => "int",
            ColType::BigInt => "bigint",
            ColType::LargeInt => "bigint unsigned",
            ColType::Float => "float",
            ColType::Double => "double",
            ColType::Decimal { .. } => "decimal",
            ColType::Char(_) => "char",
            ColType::Varchar(_) | ColType::String => "varchar",
            ColType::Date => "date",
            ColType::DateTime => "datetime",
            ColType::Json => "json",
            ColType::Varbinary(_) => "varbinary",
        }
    }

    /// `information_schema.columns` COLUMN_TYPE.
    pub fn info_column_type(&self) -> String {
        match self {
            ColType::Boolean => "tinyint(1)".into(),
            ColType::LargeInt => "bigint(20) unsigned".into(),
            other => other.desc_name(),
        }
    }

    pub fn char_max_len(&self) -> Option<u64> {
        match self {
            ColType::Char(n) | ColType::Varchar(n) | ColType::Varbinary(n) => Some(*n as u64),
            ColType::String => Some(65533),
            _ => None,
        }
    }

    pub fn numeric_precision_scale(&self) -> (Option<u64>, Option<u64>) {
        match self {
            ColType::Boolean => (Some(1), Some(0)),
            ColType::TinyInt => (Some(3), Some(0)),
            ColType::SmallInt => (Some(5), Some(0)),
            ColType::Int => (Some(10), Some(0)),
            ColType::BigInt => (Some(19), Some(0)),
            ColType::LargeInt => (Some(39), Some(0)),
            ColType::Float => (Some(12), None),
            ColType::Double => (Some(22), None),
            ColType::Decimal { precision, scale } => (Some(*precision as u64), Some(*scale as u64)),
            _ => (None, None),
        }
    }

    /// Types StarRocks accepts as Primary Key columns (§5.2).
    pub fn allowed_in_primary_key(&self) -> bool {
        matches!(
            self,
            ColType::Boolean
                | ColType::TinyInt
                | ColType::SmallInt
                | ColType::Int
                | ColType::BigInt
                | ColType::LargeInt
                | ColType::Varchar(_)
                | ColType::String
                | ColType::Date
                | ColType::DateTime
        )
    }

    /// Width in the encoded primary key (fixed types) — strings count their bytes.
    pub fn key_width(&self) -> Option<usize> {
        match self {
            ColType::Boolean | ColType::TinyInt => Some(1),
            ColType::SmallInt => Some(2),
            ColType::Int | ColType::Date => Some(4),
            ColType::BigInt | ColType::DateTime => Some(8),
            ColType::LargeInt => Some(16),
            _ => None,
        }
    }

    fn int_range(&self) -> Option<(i128, i128)> {
        match self {
            ColType::TinyInt => Some((i8::MIN as i128, i8::MAX as i128)),
            ColType::SmallInt => Some((i16::MIN as i128, i16::MAX as i128)),
            ColType::Int => Some((i32::MIN as i128, i32::MAX as i128)),
            ColType::BigInt => Some((i64::MIN as i128, i64::MAX as i128)),
            ColType::LargeInt => Some((i128::MIN, i128::MAX)),
            _ => None,
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(
            self,
            ColType::Char(_) | ColType::Varchar(_) | ColType::String | ColType::Varbinary(_)
        )
    }

    /// StarRocks' primitive type, the unit of its schema-change matrix: STRING is a VARCHAR,
    /// every DECIMAL(p,s) of 3.x is a DECIMALV3.
    fn primitive(&self) -> Primitive {
        use ColType::*;
        match self {
            Boolean => Primitive::Boolean,
            TinyInt => Primitive::TinyInt,
            SmallInt => Primitive::SmallInt,
            Int => Primitive::Int,
            BigInt => Primitive::BigInt,
            LargeInt => Primitive::LargeInt,
            Float => Primitive::Float,
            Double => Primitive::Double,
            Decimal { .. } => Primitive::Decimal,
            Char(_) => Primitive::Char,
            Varchar(_) | String => Primitive::Varchar,
            Date => Primitive::Date,
            DateTime => Primitive::DateTime,
            Json => Primitive::Json,
            Varbinary(_) => Primitive::Varbinary,
        }
    }

    /// Byte length of the string types (STRING is VARCHAR(65533)).
    pub fn str_len(&self) -> Option<u32> {
        match self {
            ColType::Char(n) | ColType::Varchar(n) => Some(*n),
            ColType::String => Some(65533),
            _ => None,
        }
    }

    /// Whether a schema change may turn this type into `to`: StarRocks'
    /// `SchemaChangeTypeCompatibility` (the former `ColumnType.schemaChangeMatrix`) plus its
    /// DECIMALV3 rules. String lengths are checked separately ("Cannot shorten string length").
    pub fn schema_change_allowed(&self, to: &ColType) -> bool {
        use Primitive::*;
        if let (
            ColType::Decimal {
                precision: p1,
                scale: s1,
            },
            ColType::Decimal {
                precision: p2,
                scale: s2,
            },
        ) = (self, to)
        {
            // Both the fraction and the integer part must be wide enough.
            return s1 <= s2 && p1 - s1 <= p2 - s2;
        }
        let (from, into) = (self.primitive(), to.primitive());
        if from == Decimal {
            // The text of the widest value must fit the VARCHAR.
            return into == Varchar && self.decimal_text_len() <= to.str_len().unwrap_or(0) as u64;
        }
        if into == Decimal {
            return from == Varchar;
        }
        if from == into {
            return true;
        }
        matches!(
            (from, into),
            (
                TinyInt,
                SmallInt | Int | BigInt | LargeInt | Double | Varchar
            ) | (SmallInt, Int | BigInt | LargeInt | Double | Varchar)
                | (Int, BigInt | LargeInt | Double | Date | Varchar)
                | (BigInt, LargeInt | Double | Varchar)
                | (LargeInt, Varchar)
                | (Float, Double | Varchar)
                | (Double, Varchar)
                | (Char, Varchar)
                | (Json, Varchar)
                | (Varchar, Json)
                | (
                    Varchar,
                    TinyInt | SmallInt | Int | BigInt | LargeInt | Float | Double | Date
                )
                | (DateTime, Date)
                | (Date, DateTime)
        )
    }

    /// Characters of the longest DECIMAL(p,s) text: digits, sign and decimal point.
    fn decimal_text_len(&self) -> u64 {
        match self {
            ColType::Decimal { precision, scale } => *precision as u64 + 1 + u64::from(*scale > 0),
            _ => 0,
        }
    }

    /// The type as StarRocks' `Type.toString()` spells it in schema-change errors
    /// (`Can not change VARCHAR(20) to BOOLEAN`).
    pub fn sr_name(&self) -> std::string::String {
        match self {
            ColType::Boolean => "BOOLEAN".into(),
            ColType::TinyInt => "TINYINT".into(),
            ColType::SmallInt => "SMALLINT".into(),
            ColType::Int => "INT".into(),
            ColType::BigInt => "BIGINT".into(),
            ColType::LargeInt => "LARGEINT".into(),
            ColType::Float => "FLOAT".into(),
            ColType::Double => "DOUBLE".into(),
            ColType::Decimal { precision, scale } => {
                let bits = match precision {
                    0..=9 => 32,
                    10..=18 => 64,
                    _ => 128,
                };
                format!("DECIMAL{bits}({precision},{scale})")
            }
            ColType::Char(n) => format!("CHAR({n})"),
            ColType::Varchar(n) => format!("VARCHAR({n})"),
            ColType::String => "VARCHAR(65533)".into(),
            ColType::Date => "DATE".into(),
            ColType::DateTime => "DATETIME".into(),
            ColType::Json => "JSON".into(),
            ColType::Varbinary(n) => format!("VARBINARY({n})"),
        }
    }
}

/// StarRocks `PrimitiveType`s the sim models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Primitive {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    LargeInt,
    Float,
    Double,
    Decimal,
    Char,
    Varchar,
    Date,
    DateTime,
    Json,
    Varbinary,
}

/// A stored value. Dates, datetimes, strings and JSON keep their canonical text so that
/// byte-wise ordering equals StarRocks ordering for fixed-width date text.
#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    /// Unscaled digits and scale.
    Decimal(i128, u8),
    Str(String),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Text as the MySQL text protocol shows it (BOOLEAN as 0/1, like StarRocks).
    pub fn to_text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Bool(b) => Some(if *b { "1" } else { "0" }.into()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_float(*f)),
            Value::Decimal(u, s) => Some(format_decimal(*u, *s)),
            Value::Str(s) => Some(s.clone()),
        }
    }

    /// JSON rendering for the control API's table dump.
    pub fn to_json(&self, ty: Option<&ColType>) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => {
                if let Ok(v) = i64::try_from(*i) {
                    v.into()
                } else {
                    serde_json::Value::String(i.to_string())
                }
            }
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Decimal(u, s) => serde_json::Value::String(format_decimal(*u, *s)),
            Value::Str(s) => {
                if ty == Some(&ColType::Json) {
                    serde_json::from_str(s).unwrap_or_else(|_| serde_json::Value::String(s.clone()))
                } else {
                    serde_json::Value::String(s.clone())
                }
            }
        }
    }

    /// Total order used for keys, ORDER BY and merge_condition; NULL sorts first.
    pub fn total_cmp(&self, other: &Value) -> Ordering {
        use Value::*;
        match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Null, _) => Ordering::Less,
            (_, Null) => Ordering::Greater,
            (Bool(a), Bool(b)) => a.cmp(b),
            (Int(a), Int(b)) => a.cmp(b),
            (Float(a), Float(b)) => a.total_cmp(b),
            (Decimal(a, sa), Decimal(b, sb)) => cmp_decimal(*a, *sa, *b, *sb),
            (Str(a), Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                _ => a
                    .to_text()
                    .unwrap_or_default()
                    .cmp(&b.to_text().unwrap_or_default()),
            },
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Bool(b) => Some(*b as i32 as f64),
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Decimal(u, s) => Some(*u as f64 / 10f64.powi(*s as i32)),
            Value::Str(s) => s.trim().parse().ok(),
            Value::Null => None,
        }
    }

    /// Bytes this value takes in the encoded primary key.
    pub fn key_bytes(&self, ty: &ColType) -> usize {
        match (ty.key_width(), self) {
            (Some(w), _) => w,
            (None, Value::Str(s)) => s.len(),
            _ => 0,
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.total_cmp(other) == Ordering::Equal
    }
}
impl Eq for Value {}
impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        self.total_cmp(other)
    }
}

fn cmp_decimal(a: i128, sa: u8, b: i128, sb: u8) -> Ordering {
    if sa == sb {
        return a.cmp(&b);
    }
    let (a, b) = if sa < sb {
        (
            a.checked_mul(10i128.pow((sb - sa) as u32))
                .unwrap_or(i128::MAX),
            b,
        )
    } else {
        (
            a,
            b.checked_mul(10i128.pow((sa - sb) as u32))
                .unwrap_or(i128::MAX),
        )
    };
    a.cmp(&b)
}

pub fn format_float(f: f64) -> String {
    if f.is_finite() && f == f.trunc() && f.abs() < 1e16 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

pub fn format_decimal(unscaled: i128, scale: u8) -> String {
    if scale == 0 {
        return unscaled.to_string();
    }
    let neg = unscaled < 0;
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = if digits.len() <= scale {
        format!("{}{}", "0".repeat(scale + 1 - digits.len()), digits)
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{}{int}.{frac}", if neg { "-" } else { "" })
}

/// A source value handed to the converter: CSV text or a JSON value.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    Null,
    /// A JSON key that is absent from the object.
    Missing,
    Text(&'a str),
    Json(&'a JVal),
}

/// Why a value could not be converted; becomes the error-log reason.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvError(pub String);

/// Converts one source value into the column type. `Ok(Value::Null)` only for a real NULL.
pub fn convert(input: Input<'_>, ty: &ColType) -> Result<Value, ConvError> {
    match input {
        Input::Null | Input::Missing => Ok(Value::Null),
        Input::Text(s) => convert_text(s, ty),
        Input::Json(v) => convert_json(v, ty),
    }
}

fn invalid(value: &str, ty: &ColType) -> ConvError {
    let shown: String = value.chars().take(100).collect();
    ConvError(format!(
        "Value '{shown}' is out of range or invalid for column type {}",
        ty.desc_name()
    ))
}

fn convert_json(v: &JVal, ty: &ColType) -> Result<Value, ConvError> {
    match v {
        JVal::Null => Ok(Value::Null),
        JVal::Str(s) => {
            if *ty == ColType::Json {
                // A JSON string holding JSON text is parsed; any other string stays a JSON string.
                match serde_json::from_str::<serde_json::Value>(s) {
                    Ok(parsed) if !parsed.is_string() => json_text(&parsed),
                    _ => json_text(&v.to_serde()),
                }
            } else {
                convert_text(s, ty)
            }
        }
        JVal::Bool(b) => match ty {
            ColType::Json => json_text(&v.to_serde()),
            ColType::Boolean => Ok(Value::Bool(*b)),
            t if t.int_range().is_some() => Ok(Value::Int(*b as i128)),
            t if t.is_string() => convert_text(if *b { "true" } else { "false" }, ty),
            _ => Err(invalid(&b.to_string(), ty)),
        },
        // Like StarRocks (`raw_json_token()`), a number converts from its exact source text, so
        // DECIMAL/LARGEINT/BIGINT keep every digit and string columns store the text as written.
        JVal::Num(text) => match ty {
            ColType::Json => json_text(&v.to_serde()),
            // JSON numbers are never read as DATETIME/DATE (Flink issue #38): the value is invalid.
            ColType::Date | ColType::DateTime => Err(invalid(text, ty)),
            _ => convert_text(text, ty),
        },
        JVal::Arr(_) | JVal::Obj(_) => match ty {
            ColType::Json => json_text(&v.to_serde()),
            t if t.is_string() => convert_text(&v.to_string(), ty),
            _ => Err(invalid(&v.to_string(), ty)),
        },
    }
}

fn json_text(v: &serde_json::Value) -> Result<Value, ConvError> {
    let s = v.to_string();
    if s.len() > JSON_VALUE_MAX {
        return Err(ConvError(format!(
            "JSON value exceeds the limit of {JSON_VALUE_MAX} bytes"
        )));
    }
    Ok(Value::Str(s))
}

fn convert_text(s: &str, ty: &ColType) -> Result<Value, ConvError> {
    match ty {
        ColType::Boolean => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" => Ok(Value::Bool(true)),
            "0" | "false" => Ok(Value::Bool(false)),
            _ => Err(invalid(s, ty)),
        },
        ColType::TinyInt
        | ColType::SmallInt
        | ColType::Int
        | ColType::BigInt
        | ColType::LargeInt => {
            let (lo, hi) = ty.int_range().expect("integer type");
            let v = parse_int(s.trim()).ok_or_else(|| invalid(s, ty))?;
            if v < lo || v > hi {
                return Err(invalid(s, ty));
            }
            Ok(Value::Int(v))
        }
        ColType::Float | ColType::Double => {
            let t = s.trim();
            let f: f64 = t.parse().map_err(|_| invalid(s, ty))?;
            // FLOAT text is rounded to the nearest float (Java's `3.4028235E38` is FLT_MAX, just
            // above it as a double): out of range only when that rounding overflows.
            if !f.is_finite() || (*ty == ColType::Float && (f as f32).is_infinite()) {
                return Err(invalid(s, ty));
            }
            if *ty == ColType::Float {
                Ok(Value::Float(f as f32 as f64))
            } else {
                Ok(Value::Float(f))
            }
        }
        ColType::Decimal { precision, scale } => parse_decimal(s.trim(), *precision, *scale)
            .map(|u| Value::Decimal(u, *scale))
            .ok_or_else(|| invalid(s, ty)),
        ColType::Char(n) | ColType::Varchar(n) => {
            if s.len() > *n as usize {
                return Err(ConvError(format!(
                    "The size of the value ({} bytes) exceeds the column length {} of {}",
                    s.len(),
                    n,
                    ty.desc_name()
                )));
            }
            Ok(Value::Str(s.to_string()))
        }
        ColType::String => {
            if s.len() > 65533 {
                return Err(ConvError(format!(
                    "The size of the value ({} bytes) exceeds the column length 65533 of varchar(65533)",
                    s.len()
                )));
            }
            Ok(Value::Str(s.to_string()))
        }
        ColType::Varbinary(n) => {
            if s.len() / 2 > *n as usize {
                return Err(invalid(s, ty));
            }
            Ok(Value::Str(s.to_string()))
        }
        ColType::Date => parse_datetime(s.trim(), true)
            .map(|dt| Value::Str(dt.render(true)))
            .ok_or_else(|| invalid(s, ty)),
        ColType::DateTime => parse_datetime(s.trim(), false)
            .map(|dt| Value::Str(dt.render(false)))
            .ok_or_else(|| invalid(s, ty)),
        ColType::Json => {
            let v: serde_json::Value = serde_json::from_str(s).map_err(|_| invalid(s, ty))?;
            json_text(&v)
        }
    }
}

fn parse_int(s: &str) -> Option<i128> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    let (neg, digits) = match digits.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, digits),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        // "12.0" and "1e3" are legal integer renderings of JSON numbers.
        if let Ok(f) = s.parse::<f64>()
            && f.is_finite()
            && f == f.trunc()
            && s.contains(['.', 'e', 'E'])
        {
            return Some(f as i128);
        }
        return None;
    }
    // Accumulate as u128 so that the LARGEINT minimum (-2^127) is representable.
    let mut v: u128 = 0;
    for b in digits.bytes() {
        v = v.checked_mul(10)?.checked_add((b - b'0') as u128)?;
    }
    if neg {
        0i128.checked_sub_unsigned(v)
    } else {
        i128::try_from(v).ok()
    }
}

/// Parses decimal text (optional exponent) into unscaled digits, rounding half-up to `scale`.
/// None on syntax error or when the integer part does not fit `precision - scale` digits.
pub fn parse_decimal(s: &str, precision: u8, scale: u8) -> Option<i128> {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (neg, m) = match mantissa.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (int_part, frac_part) = match m.find('.') {
        Some(i) => (&m[..i], &m[i + 1..]),
        None => (m, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut digits: Vec<u8> = int_part.bytes().chain(frac_part.bytes()).collect();
    // Position of the decimal point counted from the left of `digits`.
    let mut point = int_part.len() as i64 + exp as i64;
    // Bound the work for huge exponents (`1e999999999` is a valid JSON number): a value with
    // more integer digits than the precision cannot fit, and one far below half a unit of the
    // scale rounds to zero, so no more padding than that is needed.
    match digits.iter().position(|b| *b != b'0') {
        None => return Some(0),
        Some(first) if point - first as i64 > precision as i64 => return None,
        Some(_) => point = point.max(-(scale as i64) - 2),
    }
    if point < 0 {
        let pad = (-point) as usize;
        let mut v = vec![b'0'; pad];
        v.extend(digits);
        digits = v;
        point = 0;
    }
    while (digits.len() as i64) < point {
        digits.push(b'0');
    }
    let point = point as usize;
    let int_digits = digits[..point]
        .iter()
        .skip_while(|b| **b == b'0')
        .copied()
        .collect::<Vec<u8>>();
    if int_digits.len() > (precision - scale) as usize {
        return None;
    }
    let frac = &digits[point..];
    let mut unscaled: i128 = 0;
    for b in int_digits.iter() {
        unscaled = unscaled * 10 + (b - b'0') as i128;
    }
    for i in 0..scale as usize {
        let d = frac.get(i).map(|b| b - b'0').unwrap_or(0);
        unscaled = unscaled * 10 + d as i128;
    }
    if frac.get(scale as usize).is_some_and(|b| *b >= b'5') {
        unscaled += 1;
        if unscaled >= 10i128.pow(precision as u32) {
            return None;
        }
    }
    Some(if neg { -unscaled } else { unscaled })
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DateTimeParts {
    pub year: u32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub micros: u32,
}

impl DateTimeParts {
    pub fn render(&self, date_only: bool) -> String {
        let mut s = format!("{:04}-{:02}-{:02}", self.year, self.month, self.day);
        if !date_only {
            let _ = write!(s, " {:02}:{:02}:{:02}", self.hour, self.minute, self.second);
            if self.micros != 0 {
                let _ = write!(s, ".{:06}", self.micros);
            }
        }
        s
    }
}

fn is_leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

pub fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Accepts `YYYY-MM-DD`, `YYYYMMDD`, and for datetimes `YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]]`.
/// A DATE column also accepts a datetime string (time dropped), as StarRocks casts do.
pub fn parse_datetime(s: &str, _date_only: bool) -> Option<DateTimeParts> {
    let (date, time) = match s.find([' ', 'T']) {
        Some(i) => (&s[..i], Some(s[i + 1..].trim())),
        None => (s, None),
    };
    let (year, month, day) = if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) {
        (
            date[..4].parse().ok()?,
            date[4..6].parse().ok()?,
            date[6..].parse().ok()?,
        )
    } else {
        let mut it = date.split('-');
        let y = it.next()?;
        let m = it.next()?;
        let d = it.next()?;
        if it.next().is_some()
            || y.len() != 4
            || !(1..=2).contains(&m.len())
            || !(1..=2).contains(&d.len())
            || ![y, m, d]
                .iter()
                .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    };
    if year > 9999 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut parts = DateTimeParts {
        year,
        month,
        day,
        hour: 0,
        minute: 0,
        second: 0,
        micros: 0,
    };
    if let Some(t) = time.filter(|t| !t.is_empty()) {
        let (hms, frac) = match t.find('.') {
            Some(i) => (&t[..i], Some(&t[i + 1..])),
            None => (t, None),
        };
        let fields: Vec<&str> = hms.split(':').collect();
        if !(2..=3).contains(&fields.len())
            || fields
                .iter()
                .any(|f| f.is_empty() || f.len() > 2 || !f.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        parts.hour = fields[0].parse().ok()?;
        parts.minute = fields[1].parse().ok()?;
        parts.second = fields.get(2).map(|f| f.parse().ok()).unwrap_or(Some(0))?;
        if parts.hour > 23 || parts.minute > 59 || parts.second > 59 {
            return None;
        }
        if let Some(f) = frac {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let six: String = f.chars().chain(std::iter::repeat('0')).take(6).collect();
            parts.micros = six.parse().ok()?;
        }
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_rounding_and_overflow() {
        assert_eq!(parse_decimal("1.235", 5, 2), Some(124));
        assert_eq!(parse_decimal("-0.5", 3, 0), Some(-1));
        assert_eq!(parse_decimal("1000", 5, 2), None);
        assert_eq!(parse_decimal("1.5e2", 5, 1), Some(1500));
        assert_eq!(format_decimal(-5, 2), "-0.05");
        // Huge exponents (valid JSON numbers) are decided without padding billions of digits.
        assert_eq!(parse_decimal("1e999999999", 38, 10), None);
        assert_eq!(parse_decimal("0.0e999999999", 38, 10), Some(0));
        assert_eq!(parse_decimal("1e-999999999", 38, 10), Some(0));
        assert_eq!(parse_decimal("5e-11", 30, 10), Some(1));
        assert_eq!(parse_decimal("-5e-11", 30, 10), Some(-1));
        assert_eq!(parse_decimal("4.99e-11", 30, 10), Some(0));
        assert_eq!(parse_decimal("0.00012e3", 5, 2), Some(12));
        assert_eq!(parse_decimal("999.995", 5, 2), None);
    }

    #[test]
    fn integer_bounds() {
        assert_eq!(
            parse_int("-170141183460469231731687303715884105728"),
            Some(i128::MIN)
        );
        assert_eq!(
            parse_int("170141183460469231731687303715884105727"),
            Some(i128::MAX)
        );
        assert_eq!(parse_int("170141183460469231731687303715884105728"), None);
        assert_eq!(parse_int("-170141183460469231731687303715884105729"), None);
    }

    #[test]
    fn dates() {
        assert!(parse_datetime("0000-00-00", true).is_none());
        assert!(parse_datetime("2024-02-30", true).is_none());
        assert!(parse_datetime("2024-02-29 23:59:59.5", false).is_some());
        assert_eq!(
            parse_datetime("2024-01-02T03:04:05.000001", false)
                .unwrap()
                .render(false),
            "2024-01-02 03:04:05.000001"
        );
    }
}
