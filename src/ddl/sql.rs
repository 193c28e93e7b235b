//! Quoting for the StarRocks statements this module writes: every identifier is backquoted
//! (reserved words, spaces, unicode and backquotes themselves stay names), every string is a
//! double-quoted literal.

use crate::config::TargetName;

/// A backquoted identifier; a backquote inside is doubled, as StarRocks' lexer (and MySQL's)
/// reads it. The one quoting of `crate::names`, which every other statement uses too.
pub use crate::names::ident;

/// `` `db`.`table` ``.
pub fn table(name: &TargetName) -> String {
    crate::names::qualified(&name.db, &name.table)
}

/// A double-quoted string literal (StarRocks writes its own DDL that way); backslashes and
/// quotes are escaped with a backslash.
pub fn string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_backquoted_with_backquotes_doubled() {
        for (name, quoted) in [
            ("id", "`id`"),
            ("select", "`select`"),
            ("order items", "`order items`"),
            ("we`ird", "`we``ird`"),
            ("``", "``````"),
            ("日本語", "`日本語`"),
            ("a.b", "`a.b`"),
        ] {
            assert_eq!(ident(name), quoted, "{name}");
        }
        let t = TargetName {
            db: "my db".into(),
            table: "t`1".into(),
        };
        assert_eq!(table(&t), "`my db`.`t``1`");
    }

    #[test]
    fn strings_escape_quotes_and_backslashes() {
        assert_eq!(string("1"), r#""1""#);
        assert_eq!(string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(string("it's"), r#""it's""#);
        assert_eq!(string("l1\nl2\t"), r#""l1\nl2\t""#);
    }
}
