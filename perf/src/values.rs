//! Value generation (canonical text, i.e. what the decoder hands to the engine) and the
//! StarRocks rendering of canonical text.

use crate::rng::Rng;
use crate::schema::{Column, Kind, Render, TextStyle};

/// Knobs that shape generated values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValueOptions {
    /// Probability that a nullable column is SQL NULL.
    pub null_fraction: f64,
    /// CJK, emoji, quotes, backslashes, tabs/newlines in text (off: ASCII words only).
    pub unicode: bool,
    /// Probability that a text value is "tricky": empty, or as long as the column allows.
    pub tricky_fraction: f64,
}

impl Default for ValueOptions {
    fn default() -> Self {
        ValueOptions {
            null_fraction: 0.1,
            unicode: true,
            tricky_fraction: 0.01,
        }
    }
}

const WORDS: &[&str] = &[
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "Star", "Rocks", "KAFKA", "cdc",
];
const CJK: &[&str] = &[
    "数据",
    "同步",
    "测试",
    "星石",
    "表格",
    "你好",
    "世界",
    "中文",
    "日本語",
    "한국어",
    "訂單",
    "價格",
    "主键",
    "更新",
];
const EMOJI: &[&str] = &[
    "😀",
    "🚀",
    "🎉",
    "👍🏽",
    "❤️",
    "🇨🇳",
    "🧪",
    "🐘",
    "👨‍👩‍👧",
    "🦀",
    "✅",
    "🔥",
];
const QUOTES: &[&str] = &[
    "\"",
    "'",
    "\\",
    "\\\\",
    "\\n",
    "\\\"",
    "{\"a\":1}",
    "O'Reilly",
    "say \"hi\"",
    "C:\\path\\to",
    "`tick`",
    "%s",
    "$1",
    "a,b;c",
    "<tag>",
    "&amp;",
    "\\u0041",
    "NULL",
    "\\N",
];
const ACCENTS: &[&str] = &[
    "café",
    "naïve",
    "Straße",
    "Ωmega",
    "e\u{301}",
    "Ünïcödé",
    "ñandú",
];
const CONTROL: &[&str] = &["\t", "\n", "\r\n", "\t\t"];

fn pick<'a>(rng: &mut Rng, pool: &[&'a str]) -> &'a str {
    pool[rng.below(pool.len() as u64) as usize]
}

fn piece<'a>(style: TextStyle, unicode: bool, rng: &mut Rng) -> &'a str {
    if !unicode {
        return pick(rng, WORDS);
    }
    match style {
        TextStyle::Sysbench | TextStyle::Words => pick(rng, WORDS),
        TextStyle::Cjk => match rng.below(10) {
            0 => pick(rng, WORDS),
            1 => pick(rng, EMOJI),
            _ => pick(rng, CJK),
        },
        TextStyle::Emoji => match rng.below(10) {
            0 => pick(rng, WORDS),
            _ => pick(rng, EMOJI),
        },
        TextStyle::Quotes => match rng.below(3) {
            0 => pick(rng, WORDS),
            _ => pick(rng, QUOTES),
        },
        TextStyle::Mixed | TextStyle::Multiline => match rng.below(20) {
            0..=9 => pick(rng, WORDS),
            10..=12 => pick(rng, CJK),
            13..=14 => pick(rng, EMOJI),
            15..=16 => pick(rng, QUOTES),
            17 => pick(rng, CONTROL),
            _ => pick(rng, ACCENTS),
        },
    }
}

fn sysbench(rng: &mut Rng, max_chars: usize) -> String {
    let groups = (max_chars + 1) / 12;
    let mut s = String::with_capacity(groups * 12);
    for g in 0..groups.max(1) {
        if g > 0 {
            s.push('-');
        }
        let v = rng.below(100_000_000_000);
        s.push_str(&format!("{v:011}"));
    }
    s
}

fn text(
    style: TextStyle,
    max_chars: usize,
    is_char: bool,
    o: &ValueOptions,
    rng: &mut Rng,
) -> String {
    let tricky = rng.chance(o.tricky_fraction);
    if tricky && rng.chance(0.5) {
        return String::new();
    }
    if style == TextStyle::Sysbench {
        return sysbench(rng, max_chars);
    }
    let target = if tricky {
        max_chars
    } else {
        rng.range(1.min(max_chars as u64), max_chars.min(120) as u64) as usize
    };
    let mut s = String::new();
    let mut chars = 0usize;
    while chars < target {
        if chars > 0 {
            let sep = if style == TextStyle::Multiline && o.unicode {
                pick(rng, &[" ", " ", "\n", "\t", "\r\n"])
            } else {
                " "
            };
            s.push_str(sep);
            chars += sep.chars().count();
        }
        let p = piece(style, o.unicode, rng);
        s.push_str(p);
        chars += p.chars().count();
    }
    if chars > max_chars {
        s = s.chars().take(max_chars).collect();
    }
    if is_char {
        // MySQL CHAR drops trailing spaces on read.
        s.truncate(s.trim_end_matches(' ').len());
    }
    s
}

fn decimal(rng: &mut Rng, int_digits: u32, scale: u32) -> String {
    let n = rng.range(1, int_digits.max(1) as u64) as usize;
    let mut s = String::with_capacity(n + scale as usize + 2);
    let mut all_zero = true;
    for i in 0..n {
        let d = if i == 0 && n > 1 {
            rng.range(1, 9)
        } else {
            rng.below(10)
        };
        all_zero &= d == 0;
        s.push((b'0' + d as u8) as char);
    }
    if scale > 0 {
        s.push('.');
        for _ in 0..scale {
            let d = rng.below(10);
            all_zero &= d == 0;
            s.push((b'0' + d as u8) as char);
        }
    }
    if !all_zero && rng.chance(0.2) {
        s.insert(0, '-');
    }
    s
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Epoch seconds → `YYYY-MM-DD HH:MM:SS`.
pub fn format_datetime(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

const BASE_2018: i64 = 1_514_764_800;

fn json(rng: &mut Rng, o: &ValueOptions) -> String {
    // MySQL renders JSON objects with keys ordered by length, then bytes, and ", " / ": ".
    let mut parts: Vec<String> = Vec::new();
    parts.push(format!("\"id\": {}", rng.below(1_000_000)));
    if rng.chance(0.5) {
        parts.push(format!("\"ok\": {}", rng.chance(0.5)));
    }
    if rng.chance(0.7) {
        let t = text(TextStyle::Mixed, 24, false, o, rng);
        parts.push(format!(
            "\"tag\": {}",
            serde_json::to_string(&t).unwrap_or_default()
        ));
    }
    if rng.chance(0.5) {
        let n = rng.below(4);
        let items: Vec<String> = (0..n)
            .map(|_| serde_json::to_string(pick(rng, WORDS)).unwrap_or_default())
            .collect();
        parts.push(format!("\"tags\": [{}]", items.join(", ")));
    }
    if rng.chance(0.5) {
        parts.push(format!(
            "\"price\": {}.{}",
            rng.below(1000),
            pick(rng, &["5", "25", "75"])
        ));
    }
    if rng.chance(0.3) {
        parts.push(format!(
            "\"nested\": {{\"a\": {}, \"b\": null}}",
            rng.below(100) as i64 - 50
        ));
    }
    format!("{{{}}}", parts.join(", "))
}

/// Generates one value of `col` (canonical text; `None` = SQL NULL).
pub fn gen_value(col: &Column, o: &ValueOptions, rng: &mut Rng) -> Option<String> {
    if col.nullable && rng.chance(o.null_fraction) {
        return None;
    }
    Some(match col.kind {
        Kind::Int { min, max } => {
            let span = (max as i128 - min as i128 + 1) as u128;
            let v = if span > u64::MAX as u128 {
                rng.next_u64() as i64 as i128
            } else {
                min as i128 + rng.below(span as u64) as i128
            };
            v.to_string()
        }
        Kind::BigUnsigned => {
            if rng.chance(0.5) {
                rng.next_u64().to_string()
            } else {
                rng.below(1_000_000).to_string()
            }
        }
        Kind::Decimal { int_digits, scale } => decimal(rng, int_digits, scale),
        Kind::Float { max_int } => {
            let i = rng.below(max_int as u64);
            let frac = pick(rng, &["25", "5", "75", "125", "375", "0625"]);
            let neg = if rng.chance(0.3) { "-" } else { "" };
            format!("{neg}{i}.{frac}")
        }
        Kind::Bool => rng.below(2).to_string(),
        Kind::Year => rng.range(1901, 2155).to_string(),
        Kind::Bit8 => rng.below(256).to_string(),
        Kind::Date => {
            let (y, m, d) = civil_from_days(BASE_2018 / 86_400 + rng.below(4000) as i64);
            format!("{y:04}-{m:02}-{d:02}")
        }
        Kind::DateTime { fsp } => {
            let mut s = format_datetime(BASE_2018 + rng.below(8 * 365 * 86_400) as i64);
            if fsp > 0 {
                s.push('.');
                let zero = rng.chance(0.2);
                for _ in 0..fsp {
                    s.push(if zero {
                        '0'
                    } else {
                        (b'0' + rng.below(10) as u8) as char
                    });
                }
            }
            s
        }
        Kind::Time => {
            if rng.chance(0.05) {
                format!(
                    "-{}:{:02}:{:02}",
                    rng.range(24, 838),
                    rng.below(60),
                    rng.below(60)
                )
            } else {
                format!(
                    "{:02}:{:02}:{:02}",
                    rng.below(24),
                    rng.below(60),
                    rng.below(60)
                )
            }
        }
        Kind::Text { style, max_chars } => {
            text(style, max_chars, col.mysql_type.starts_with("char"), o, rng)
        }
        Kind::Choice(list) => {
            let n = if o.unicode {
                list.len()
            } else {
                list.len() - 1
            };
            list[rng.below(n as u64) as usize].to_string()
        }
        Kind::Enum(labels) => pick(rng, labels).to_string(),
        Kind::Set(labels) => {
            let mask = rng.range(1, (1u64 << labels.len()) - 1);
            set_text(labels, mask)
        }
        Kind::Json => json(rng, o),
    })
}

pub fn set_text(labels: &[&str], mask: u64) -> String {
    labels
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, l)| *l)
        .collect::<Vec<_>>()
        .join(",")
}

/// The text of a canonical value as a format carries it: canal-json sends ENUM as its 1-based
/// index and SET as a bitmask (formats.md §5.3); everything else is the canonical text.
pub fn wire_text<'a>(col: &Column, canonical: &'a str, canal: bool) -> std::borrow::Cow<'a, str> {
    use std::borrow::Cow;
    if !canal {
        return Cow::Borrowed(canonical);
    }
    match col.kind {
        Kind::Enum(labels) => match labels.iter().position(|l| *l == canonical) {
            Some(i) => Cow::Owned((i + 1).to_string()),
            None => Cow::Borrowed(canonical),
        },
        Kind::Set(labels) => {
            let mut mask = 0u64;
            for part in canonical.split(',').filter(|p| !p.is_empty()) {
                if let Some(i) = labels.iter().position(|l| *l == part) {
                    mask |= 1 << i;
                }
            }
            Cow::Owned(mask.to_string())
        }
        _ => Cow::Borrowed(canonical),
    }
}

/// How StarRocks renders the canonical value of `col`: DATETIME fractions are shown with 6
/// digits, or not at all when they are zero; everything else is the canonical text.
pub fn starrocks_text(col: &Column, canonical: &str) -> String {
    if col.render() == Render::DateTime
        && let Some((base, frac)) = canonical.split_once('.')
    {
        if frac.bytes().all(|b| b == b'0') {
            return base.to_string();
        }
        let mut s = String::with_capacity(26);
        s.push_str(base);
        s.push('.');
        s.push_str(frac);
        for _ in frac.len()..6 {
            s.push('0');
        }
        return s;
    }
    canonical.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_datetime(0), "1970-01-01 00:00:00");
        assert_eq!(format_datetime(1_717_207_200), "2024-06-01 02:00:00");
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn starrocks_datetime() {
        let c = crate::schema::orders().columns[6].clone();
        assert_eq!(
            starrocks_text(&c, "2024-06-01 10:00:00.120"),
            "2024-06-01 10:00:00.120000"
        );
        assert_eq!(
            starrocks_text(&c, "2024-06-01 10:00:00.000"),
            "2024-06-01 10:00:00"
        );
        assert_eq!(
            starrocks_text(&c, "2024-06-01 10:00:00"),
            "2024-06-01 10:00:00"
        );
    }

    #[test]
    fn wire() {
        let w = crate::schema::wide();
        let e = w.columns.iter().find(|c| c.name == "c_enum").unwrap();
        let s = w.columns.iter().find(|c| c.name == "c_set").unwrap();
        assert_eq!(wire_text(e, "large", true), "3");
        assert_eq!(wire_text(e, "large", false), "large");
        assert_eq!(wire_text(s, "red,blue", true), "5");
    }
}
