//! StarRocks names (databases, tables, columns) on their way into SQL, HTTP headers and URL
//! paths: which names StarRocks can hold and Stream Load can address, and how each is written.
//!
//! Names come from messages and from `[[tables]]`, so they are input: every one goes into SQL
//! back-quoted ([`ident`]) or as a string literal ([`literal`]), into a URL path
//! percent-encoded ([`path_segment`]), and is checked first ([`check_database`],
//! [`check_table`], [`check_column`]) so that a name StarRocks or Stream Load cannot take is
//! refused with a reason instead of failing somewhere further on.
//!
//! The rules are StarRocks' own (`FeNameFormat`, `fe/fe-core/.../common/FeNameFormat.java`):
//! database names `^[a-zA-Z]\w{0,255}$|^_[a-zA-Z0-9]\w{0,254}$` (ASCII); table names any
//! 1–1024 characters but NUL; column names any 1–1024 characters but NUL, `=`, `<`, `>`, `!`,
//! `*`, not starting with a schema-change shadow prefix. (The documentation's stricter
//! `[0-9A-Za-z_]` is not what the FE enforces for tables and columns.)
//!
//! Stream Load narrows table names further: the BE takes the database and table of
//! `/api/{db}/{table}/_stream_load` from the raw URL path (libevent's `evhttp_uri_get_path`,
//! split by its `PathTrie`, never percent-decoded — `be/src/http/http_request.cpp`), while the
//! FE decodes it (`+` included, as a space). A name that needs percent-encoding therefore
//! reaches the BE as `a%20b` and is an unknown table; such names are refused here.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What a name names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    Database,
    Table,
    Column,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Database => "database",
            NameKind::Table => "table",
            NameKind::Column => "column",
        })
    }
}

/// A name starpipe refuses, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} name `{}` cannot be used: {reason}", name.escape_debug())]
pub struct BadName {
    pub kind: NameKind,
    pub name: String,
    pub reason: &'static str,
}

/// StarRocks' longest database name.
const MAX_DATABASE: usize = 256;
/// StarRocks' longest table and column names.
const MAX_TABLE_OR_COLUMN: usize = 1024;
/// Column-name prefixes StarRocks keeps for schema-change shadow columns.
const SHADOW_PREFIXES: [&str; 2] = ["__starrocks_shadow_", "__doris_shadow_"];

/// Characters a URL path segment carries as they are (RFC 3986 `pchar` without `%`), less
/// `+`, which StarRocks' FE decodes as a space. Everything else is percent-encoded.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// A database name StarRocks accepts: ASCII letters, digits and `_`, starting with a letter,
/// or with `_` and then a letter or digit; at most 256 characters.
pub fn check_database(name: &str) -> Result<(), BadName> {
    let b = name.as_bytes();
    let word = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
    let start_ok = match b {
        [first, ..] if first.is_ascii_alphabetic() => true,
        [b'_', second, ..] => second.is_ascii_alphanumeric(),
        _ => false,
    };
    if start_ok && b.len() <= MAX_DATABASE && b.iter().all(word) {
        return Ok(());
    }
    Err(BadName {
        kind: NameKind::Database,
        name: name.to_string(),
        reason: "StarRocks database names are ASCII letters, digits and `_`, start with a \
                 letter (or `_` and a letter or digit) and are at most 256 characters long",
    })
}

/// A table name StarRocks holds (1–1024 characters, no NUL) and Stream Load can address: only
/// characters a URL path carries unencoded (see the module documentation), and not `.` or
/// `..`, which URL normalisation removes.
pub fn check_table(name: &str) -> Result<(), BadName> {
    let bad = |reason| {
        Err(BadName {
            kind: NameKind::Table,
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name.chars().count() > MAX_TABLE_OR_COLUMN || name.contains('\0') {
        return bad("StarRocks table names are 1 to 1024 characters long, without NUL");
    }
    if name == "." || name == ".." || path_segment(name) != name {
        return bad(
            "Stream Load cannot address it: StarRocks' BE reads the table of \
             /api/{db}/{table}/_stream_load from the raw URL path without percent-decoding it, so \
             a table name may use only ASCII letters, digits and -._~!$&'()*,;=:@ (no spaces, \
             `/`, `%`, `+`, `\"`, backquotes or non-ASCII characters); load it into a table \
             named so (a [[tables]] entry)",
        );
    }
    Ok(())
}

/// A column name StarRocks holds (1–1024 characters; no NUL, `=`, `<`, `>`, `!`, `*`; not a
/// shadow-column prefix) and the Stream Load `columns` header can carry (no control
/// characters).
pub fn check_column(name: &str) -> Result<(), BadName> {
    let bad = |reason| {
        Err(BadName {
            kind: NameKind::Column,
            name: name.to_string(),
            reason,
        })
    };
    let forbidden = |c: char| matches!(c, '\0' | '=' | '<' | '>' | '!' | '*');
    if name.is_empty() || name.chars().count() > MAX_TABLE_OR_COLUMN || name.contains(forbidden) {
        return bad(
            "StarRocks column names are 1 to 1024 characters long, without NUL, `=`, `<`, `>`, \
             `!` or `*`",
        );
    }
    if SHADOW_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return bad("StarRocks keeps this prefix for schema-change shadow columns");
    }
    if name.chars().any(char::is_control) {
        return bad("the Stream Load `columns` header cannot carry control characters");
    }
    Ok(())
}

/// A back-quoted SQL identifier; a back quote inside is doubled, as StarRocks' lexer expects.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `db`.`table`.
pub fn qualified(db: &str, table: &str) -> String {
    format!("{}.{}", ident(db), ident(table))
}

/// A single-quoted SQL string literal: backslash, quote and NUL escaped with a backslash
/// (StarRocks, like MySQL, reads backslash escapes in string literals).
pub fn literal(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('\'');
    for c in text.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '\'' => s.push_str("\\'"),
            '\0' => s.push_str("\\0"),
            c => s.push(c),
        }
    }
    s.push('\'');
    s
}

/// `text` as one URL path segment (or query value): percent-encoded, so that no name can add a
/// segment, a query or a fragment to a URL. A checked database or table name comes out as it
/// went in.
pub fn path_segment(text: &str) -> String {
    utf8_percent_encode(text, PATH_SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_follow_starrocks() {
        for ok in ["ods", "_x1", "a_b_9", &"d".repeat(256)] {
            assert!(check_database(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "9a",
            "__x",
            "_",
            "a-b",
            "a b",
            "数据",
            "a`b",
            &"d".repeat(257),
        ] {
            assert!(check_database(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn table_names_must_be_addressable_by_stream_load() {
        for ok in [
            "orders", "select", "o'rders", "a.b", "x$y;1=1", "(t)", "a@b:c",
        ] {
            assert!(check_table(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a b", "a/b", "a%20b", "a+b", "a`b", "a\"b", "订单", ".", "..", "a\0",
        ] {
            let e = check_table(bad).unwrap_err();
            assert_eq!(e.kind, NameKind::Table);
        }
        let e = check_table("order items").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("table name `order items` cannot be used")
        );
    }

    #[test]
    fn column_names_follow_starrocks_and_the_columns_header() {
        for ok in [
            "id",
            "select",
            "a b",
            "we`ird",
            "quo'te\"s",
            "名前",
            "a.b",
            "#x",
        ] {
            assert!(check_column(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a=b",
            "a<b",
            "a!",
            "a*",
            "__starrocks_shadow_x",
            "a\nb",
            "a\0",
        ] {
            assert!(check_column(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(ident("we`ird"), "`we``ird`");
        assert_eq!(qualified("d", "select"), "`d`.`select`");
        assert_eq!(literal("o'r\\d"), "'o\\'r\\\\d'");
        assert_eq!(path_segment("a b/c?d#e%"), "a%20b%2Fc%3Fd%23e%25");
        assert_eq!(path_segment("x$y;1=1"), "x$y;1=1");
        assert_eq!(path_segment("订"), "%E8%AE%A2");
    }

    #[test]
    fn errors_escape_control_characters() {
        let e = check_column("a\nb").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("column name `a\\nb` cannot be used"),
            "{e}"
        );
    }
}
