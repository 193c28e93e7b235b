//! Number-preserving JSON values for Stream Load bodies.
//!
//! StarRocks converts a JSON number from its raw token text (simdjson's `raw_json_token()`, see
//! `be/src/formats/json/binary_column.cpp`), so a DECIMAL, LARGEINT, BIGINT or VARCHAR column gets
//! exactly the digits that were sent. `serde_json::Value` reads numbers as `f64`/`i64`/`u64`
//! and loses digits (and the workspace cannot enable `arbitrary_precision`), so the body is parsed
//! into this tree instead: numbers keep their source text. Syntax checking is still serde_json's
//! (every level goes through `RawValue`), so parse errors read the same.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

/// A JSON value whose numbers keep their exact source text.
#[derive(Debug, Clone, PartialEq)]
pub enum JVal {
    Null,
    Bool(bool),
    /// The number token exactly as written (e.g. `567568735.8209100684`, `1E3`, `-0.50`).
    Num(Box<str>),
    Str(String),
    Arr(Vec<JVal>),
    /// Keys in first-seen order; a repeated key keeps its first position and its last value,
    /// as `serde_json::Map` with `preserve_order` does.
    Obj(Vec<(String, JVal)>),
}

/// The members of one object, values still unparsed.
struct RawObj<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for RawObj<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawObj<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(RawObj(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl JVal {
    /// Builds the tree for one already-validated raw JSON value.
    pub fn from_raw(raw: &RawValue) -> serde_json::Result<JVal> {
        let s = raw.get().trim_start();
        Ok(match s.as_bytes().first() {
            Some(b'{') => {
                let RawObj(members) = serde_json::from_str(s)?;
                let mut obj: Vec<(String, JVal)> = Vec::with_capacity(members.len());
                for (k, v) in members {
                    let v = JVal::from_raw(v)?;
                    match obj.iter_mut().find(|(ek, _)| *ek == k) {
                        Some(slot) => slot.1 = v,
                        None => obj.push((k, v)),
                    }
                }
                JVal::Obj(obj)
            }
            Some(b'[') => {
                let items: Vec<&RawValue> = serde_json::from_str(s)?;
                JVal::Arr(
                    items
                        .into_iter()
                        .map(JVal::from_raw)
                        .collect::<serde_json::Result<_>>()?,
                )
            }
            Some(b'"') => JVal::Str(serde_json::from_str(s)?),
            Some(b't') => JVal::Bool(true),
            Some(b'f') => JVal::Bool(false),
            Some(b'n') => JVal::Null,
            _ => JVal::Num(s.trim_end().into()),
        })
    }

    /// Parses JSON text (used by tests and callers holding a single document).
    #[cfg(test)]
    pub fn parse(text: &str) -> serde_json::Result<JVal> {
        let raw: &RawValue = serde_json::from_str(text)?;
        JVal::from_raw(raw)
    }

    /// Member `key` of an object (exact match), like `serde_json::Value::get(&str)`.
    pub fn get(&self, key: &str) -> Option<&JVal> {
        match self {
            JVal::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Element `i` of an array, like `serde_json::Value::get(usize)`.
    pub fn index(&self, i: usize) -> Option<&JVal> {
        match self {
            JVal::Arr(a) => a.get(i),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(String, JVal)]> {
        match self {
            JVal::Obj(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[JVal]> {
        match self {
            JVal::Arr(a) => Some(a),
            _ => None,
        }
    }

    pub fn is_object(&self) -> bool {
        matches!(self, JVal::Obj(_))
    }

    pub fn is_array(&self) -> bool {
        matches!(self, JVal::Arr(_))
    }

    /// The equivalent `serde_json::Value` (numbers read by serde_json, as before this type
    /// existed). Used where the sim's semantics are those of a parsed JSON document: JSON
    /// columns and the rendering of rows in the error log.
    pub fn to_serde(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            JVal::Null => J::Null,
            JVal::Bool(b) => J::Bool(*b),
            JVal::Num(t) => serde_json::from_str(t).unwrap_or(J::Null),
            JVal::Str(s) => J::String(s.clone()),
            JVal::Arr(a) => J::Array(a.iter().map(JVal::to_serde).collect()),
            JVal::Obj(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_serde())).collect()),
        }
    }
}

impl fmt::Display for JVal {
    /// Compact JSON text, as `serde_json::Value`'s `Display` renders the same document.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_serde())
    }
}

#[cfg(test)]
mod tests {
    use super::JVal;

    #[test]
    fn numbers_keep_their_text() {
        let v = JVal::parse(
            r#" {"d": 567568735.8209100684, "u": 18446744073709551615, "e": 1E3, "n": [-0.50, 2], "s": "x\"y", "b": true, "z": null} "#,
        )
        .unwrap();
        assert_eq!(v.get("d"), Some(&JVal::Num("567568735.8209100684".into())));
        assert_eq!(v.get("u"), Some(&JVal::Num("18446744073709551615".into())));
        assert_eq!(v.get("e"), Some(&JVal::Num("1E3".into())));
        assert_eq!(
            v.get("n").and_then(|a| a.index(0)),
            Some(&JVal::Num("-0.50".into()))
        );
        assert_eq!(v.get("s"), Some(&JVal::Str("x\"y".into())));
        assert_eq!(v.get("b"), Some(&JVal::Bool(true)));
        assert_eq!(v.get("z"), Some(&JVal::Null));
    }

    #[test]
    fn duplicate_keys_and_display_match_serde_json() {
        let text = r#"{"b":1,"a":{"x":[1.5,2]},"b":3}"#;
        let v = JVal::parse(text).unwrap();
        let s: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v.to_string(), s.to_string());
        assert_eq!(v.get("b"), Some(&JVal::Num("3".into())));
    }

    #[test]
    fn syntax_errors_are_serde_json_errors() {
        assert!(JVal::parse(r#"{"a": 1,}"#).is_err());
        assert!(JVal::parse(r#"[1, 2"#).is_err());
    }
}
