//! TOML text → [`RawConfig`](super::raw) with every unknown key and type error collected.
//!
//! serde (with `deny_unknown_fields`) stops at the first error. To report them all, the file is
//! parsed once into toml's spanned document; then we deserialize, and on an error we find the
//! key the error's span points at, record the problem with that key path, remove the key from
//! the document and try again. Every raw field is optional, so removing a key never causes a new
//! error; required keys and value ranges are checked afterwards, all at once.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{Location, Problem, Problems};
use super::raw::RawConfig;

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// Renders a key path the way TOML would address it: `target.flushBatchMb`,
/// `source.kafka."sasl.password"`, `tables[0].source`.
pub(super) fn render_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&render_key(k));
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A key as TOML would write it: bare when possible, else quoted.
pub(crate) fn render_key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_owned()
    } else {
        format!("{k:?}")
    }
}

/// The parsed document plus the span of every key path in it.
pub(super) struct Located {
    text_len: usize,
    /// rendered path → (key span, value span)
    spans: HashMap<String, (Range<usize>, Range<usize>)>,
}

impl Located {
    /// Where the value of `path` is, if the key is in the file.
    /// For a key not in the file, where its table is.
    pub(super) fn value_location(&self, text: &str, path: &str) -> Option<Location> {
        let mut path = path;
        loop {
            if let Some((_, value)) = self.spans.get(path) {
                return Some(Location::of_offset(text, value.start.min(self.text_len)));
            }
            path = &path[..path.rfind('.')?];
        }
    }
}

fn index_spans(
    table: &DeTable<'_>,
    prefix: &mut Vec<Seg>,
    out: &mut HashMap<String, (Range<usize>, Range<usize>)>,
) {
    for (k, v) in table.iter() {
        prefix.push(Seg::Key(k.get_ref().to_string()));
        out.insert(render_path(prefix), (k.span(), v.span()));
        index_value(v, prefix, out);
        prefix.pop();
    }
}

fn index_value(
    v: &Spanned<DeValue<'_>>,
    prefix: &mut Vec<Seg>,
    out: &mut HashMap<String, (Range<usize>, Range<usize>)>,
) {
    match v.get_ref() {
        DeValue::Table(t) => index_spans(t, prefix, out),
        DeValue::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                prefix.push(Seg::Index(i));
                out.insert(render_path(prefix), (e.span(), e.span()));
                index_value(e, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end.max(outer.start + 1)
}

/// The deepest key path whose key or value span contains `span`.
fn find_path(table: &DeTable<'_>, span: &Range<usize>) -> Option<Vec<Seg>> {
    for (k, v) in table.iter() {
        let key = Seg::Key(k.get_ref().to_string());
        if contains(&k.span(), span) {
            return Some(vec![key]);
        }
        if let Some(mut rest) = find_in_value(v, span) {
            rest.insert(0, key);
            return Some(rest);
        }
    }
    None
}

/// `Some(path below v)` if `span` lies inside `v` (an empty path: `v` itself).
fn find_in_value(v: &Spanned<DeValue<'_>>, span: &Range<usize>) -> Option<Vec<Seg>> {
    // Header tables' spans do not always cover their bodies, so look inside first.
    match v.get_ref() {
        DeValue::Table(t) => {
            if let Some(p) = find_path(t, span) {
                return Some(p);
            }
        }
        DeValue::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                if let Some(mut rest) = find_in_value(e, span) {
                    rest.insert(0, Seg::Index(i));
                    return Some(rest);
                }
            }
        }
        _ => {}
    }
    contains(&v.span(), span).then(Vec::new)
}

/// Removes the key at `path` (the last key segment; a trailing index removes the whole array).
/// Returns the path of what was removed.
fn remove_path(table: &mut DeTable<'_>, path: &[Seg]) -> Option<Vec<Seg>> {
    let whole = |table: &mut DeTable<'_>, k: &String| {
        table.remove(k.as_str()).map(|_| vec![Seg::Key(k.clone())])
    };
    let prefixed = |k: &String, rest: Option<Vec<Seg>>| {
        rest.map(|mut r| {
            r.insert(0, Seg::Key(k.clone()));
            r
        })
    };
    match path {
        [Seg::Key(k)] | [Seg::Key(k), Seg::Index(_)] => whole(table, k),
        [Seg::Key(k), rest @ ..] => match table.get_mut(k.as_str()).map(|v| v.get_mut()) {
            Some(DeValue::Table(t)) => prefixed(k, remove_path(t, rest)),
            Some(DeValue::Array(a)) => match rest {
                [Seg::Index(i), deeper @ ..] if !deeper.is_empty() => {
                    match a.get_mut(*i).map(|e| e.get_mut()) {
                        Some(DeValue::Table(t)) => prefixed(
                            k,
                            remove_path(t, deeper).map(|mut r| {
                                r.insert(0, Seg::Index(*i));
                                r
                            }),
                        ),
                        _ => None,
                    }
                }
                _ => whole(table, k),
            },
            _ => None,
        },
        _ => None,
    }
}

/// Rewrites serde's wording into "expected X, got Y", naming the table for unknown keys.
fn friendly_message(message: &str, path: &[Seg]) -> String {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (key, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let table = match path {
            [] | [_] => "at the top level".to_owned(),
            [.., Seg::Index(_), _] => format!("in {}", render_path(&path[..path.len() - 1])),
            _ => format!("in [{}]", render_path(&path[..path.len() - 1])),
        };
        let expected = expected.trim_start_matches(", ");
        return if expected.is_empty() || expected.contains("there are no fields") {
            format!("unknown key `{key}` {table}")
        } else {
            format!("unknown key `{key}` {table}; {expected}")
        };
    }
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((got, expected)) = rest.split_once(", expected ")
    {
        return format!("expected {}, got {got}", friendly_expected(expected));
    }
    if let Some(rest) = message.strip_prefix("invalid value: ")
        && let Some((got, expected)) = rest.split_once(", expected ")
    {
        return format!("expected {}, got {got}", friendly_expected(expected));
    }
    message.to_owned()
}

fn friendly_expected(expected: &str) -> &str {
    match expected {
        "i64" | "u64" | "i32" | "u32" | "usize" => "an integer",
        "a sequence" => "an array",
        "a map" | "struct RawConfig" | "struct RawSource" | "struct RawTarget"
        | "struct RawRoute" => "a table",
        "a boolean" => "a boolean (`true` or `false`)",
        "a string" => "a string",
        other => other,
    }
}

/// Parses `text` into the raw (all-optional) configuration, collecting every TOML syntax error,
/// unknown key and type error. Returns the raw configuration (with offending keys dropped), the
/// problems, the paths that were dropped, and the span index for locating later problems.
pub(super) fn parse_raw(text: &str) -> (Option<RawConfig>, Problems, Vec<String>, Located) {
    let mut problems = Problems::default();
    let mut removed = Vec::new();
    let (doc, syntax) = DeTable::parse_recoverable(text);
    let mut spans = HashMap::new();
    index_spans(doc.get_ref(), &mut Vec::new(), &mut spans);
    let located = Located {
        text_len: text.len(),
        spans,
    };
    if !syntax.is_empty() {
        for e in syntax {
            let message = e.message().trim();
            let location = match e.span() {
                Some(s) => Some(Location::of_offset(text, s.start)),
                None => Some(place_unspanned(text, message)),
            };
            problems.push(Problem::new("", syntax_message(message)).at(location));
        }
        problems.0.sort_by_key(|p| p.location);
        return (None, problems, removed, located);
    }
    let span = doc.span();
    let mut table = doc.into_inner();
    // Each round removes one key, so the number of keys bounds the rounds.
    for _ in 0..=located.spans.len() {
        let de = toml::de::Deserializer::from(Spanned::new(span.clone(), table.clone()));
        match RawConfig::deserialize(de) {
            Ok(raw) => return (Some(raw), problems, removed, located),
            Err(e) => {
                let path = e.span().and_then(|s| find_path(&table, &s));
                let location = e.span().map(|s| Location::of_offset(text, s.start));
                match path {
                    Some(path) if let Some(gone) = remove_path(&mut table, &path) => {
                        problems.push(
                            Problem::new(render_path(&path), friendly_message(e.message(), &path))
                                .at(location),
                        );
                        removed.push(render_path(&gone));
                    }
                    _ => {
                        problems.push(
                            Problem::new("", friendly_message(e.message(), &[])).at(location),
                        );
                        return (None, problems, removed, located);
                    }
                }
            }
        }
    }
    (None, problems, removed, located)
}

/// The line of `text` where the TOML syntax error `message`, which toml reported without a
/// span (its parser's limit on dotted keys: "recursion limit"), first appears: the shortest
/// prefix of whole lines whose parse reports it (a binary search, parsing only when such an error
/// occurs). Column 1 of that line; line 1 if no prefix reproduces it.
fn place_unspanned(text: &str, message: &str) -> Location {
    let ends: Vec<usize> = text
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .chain(std::iter::once(text.len()))
        .collect();
    let reports = |end: usize| {
        DeTable::parse_recoverable(&text[..end])
            .1
            .iter()
            .any(|e| e.span().is_none() && e.message().trim() == message)
    };
    // Invariant: the prefix ending at `ends[hi]` reports it (the whole text does), none shorter
    // than `ends[lo]` is known to.
    let (mut lo, mut hi) = (0, ends.len() - 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if reports(ends[mid]) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Location {
        line: hi + 1,
        column: 1,
    }
}

/// A TOML syntax error's message for the job file's author.
fn syntax_message(message: &str) -> String {
    if message == "recursion limit" {
        // toml refuses a dotted key of more than 80 parts this way, without a span.
        "a dotted key with too many parts (the TOML parser's recursion limit)".to_owned()
    } else {
        message.to_owned()
    }
}

/// A `[source.kafka]` value: TOML string, integer or boolean, kept as a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KafkaValue(pub String);

impl<'de> Deserialize<'de> for KafkaValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = KafkaValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string, integer or boolean")
            }
            fn visit_str<E>(self, v: &str) -> Result<KafkaValue, E> {
                Ok(KafkaValue(v.to_owned()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KafkaValue, E> {
                Ok(KafkaValue(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KafkaValue, E> {
                Ok(KafkaValue(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KafkaValue, E> {
                Ok(KafkaValue(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Converts the raw kafka map into plain strings.
pub(super) fn kafka_strings(raw: BTreeMap<String, KafkaValue>) -> BTreeMap<String, String> {
    raw.into_iter().map(|(k, v)| (k, v.0)).collect()
}
