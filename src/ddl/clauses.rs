//! The way through statements sqlparser's MySQL dialect does not parse whole: MySQL table
//! options (`ENGINE=…`, `COMMENT=…`, `CONVERT TO CHARACTER SET …`), partition clauses,
//! `RENAME INDEX`, `ADD COLUMN (a …, b …)`, `CREATE TABLE … PARTITION BY …`.
//!
//! No grammar is written here: sqlparser's tokenizer splits the statement, an `ALTER TABLE` is
//! cut into its clauses at the top-level commas and each clause is parsed again by sqlparser
//! as an `ALTER TABLE` of its own. Only a clause sqlparser still refuses is classified, by its
//! leading keywords, as ignored (an option, index or partition clause) or not applicable.

use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

use super::change::{CannotApply, Change, Ignored};
use super::parse::{SourceName, statement};

/// MySQL `table_option` keywords and other clauses that change nothing StarRocks holds
/// (MySQL 8.4 Reference Manual, ALTER TABLE and CREATE TABLE).
const TABLE_OPTIONS: &[&str] = &[
    "ALGORITHM",
    "AUTO_INCREMENT",
    "AUTOEXTEND_SIZE",
    "AVG_ROW_LENGTH",
    "CHARACTER",
    "CHARSET",
    "CHECKSUM",
    "COLLATE",
    "COMMENT",
    "COMPRESSION",
    "CONNECTION",
    "CONVERT",
    "DATA",
    "DELAY_KEY_WRITE",
    "DISABLE",
    "ENABLE",
    "ENCRYPTION",
    "ENGINE",
    "ENGINE_ATTRIBUTE",
    "FORCE",
    "INSERT_METHOD",
    "KEY_BLOCK_SIZE",
    "LOCK",
    "MAX_ROWS",
    "MIN_ROWS",
    "ORDER",
    "PACK_KEYS",
    "PASSWORD",
    "ROW_FORMAT",
    "SECONDARY_ENGINE",
    "SECONDARY_ENGINE_ATTRIBUTE",
    "SECONDARY_LOAD",
    "SECONDARY_UNLOAD",
    "STATS_AUTO_RECALC",
    "STATS_PERSISTENT",
    "STATS_SAMPLE_PAGES",
    "TABLESPACE",
    "UNION",
    "VALIDATION",
    "WITH",
    "WITHOUT",
];

/// Partition maintenance that moves rows between partitions but changes none.
const PARTITION_LAYOUT: &[&str] = &[
    "ADD",
    "ANALYZE",
    "CHECK",
    "COALESCE",
    "OPTIMIZE",
    "REBUILD",
    "REORGANIZE",
    "REPAIR",
    "REMOVE",
    "PARTITION",
];

/// String types that may carry MySQL's `BINARY` attribute without a length.
const STRING_TYPES: &[&str] = &["CHAR", "TEXT", "TINYTEXT", "MEDIUMTEXT", "LONGTEXT"];

/// Statements about things other than tables' rows and columns.
const NOT_TABLES: &[&str] = &[
    "VIEW",
    "TRIGGER",
    "FUNCTION",
    "PROCEDURE",
    "EVENT",
    "USER",
    "ROLE",
    "DEFINER",
    "SERVER",
    "TABLESPACE",
    "LOGFILE",
    "SPATIAL",
    "RESOURCE",
    "SQL",
    "ALGORITHM",
    "INSTANCE",
    "UNDO",
];

/// The changes of a statement the whole-statement parse refused with `error`.
pub(super) fn fallback(sql: &str, source: SourceName<'_>, error: String) -> Vec<Change> {
    let unparsed = || {
        vec![Change::CannotApply(CannotApply::Unparsed {
            error: error.clone(),
        })]
    };
    let Ok(tokens) = Tokenizer::new(&MySqlDialect {}, sql).tokenize() else {
        return unparsed();
    };
    let tokens = spell_types(tokens);
    if let Ok(st) = Parser::new(&MySqlDialect {})
        .with_tokens(tokens.clone())
        .parse_statement()
    {
        return statement(&st, source);
    }
    let words = leading_words(&tokens, 3);
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    match (w(0), w(1)) {
        ("ALTER", _) if words.iter().any(|x| x == "TABLE") => {
            alter(&tokens, source).unwrap_or_else(unparsed)
        }
        ("CREATE", "TABLE" | "TEMPORARY") => create(&tokens, source).unwrap_or_else(unparsed),
        ("DROP", "DATABASE" | "SCHEMA") => vec![Change::CannotApply(CannotApply::DropDatabase {
            db: w(2).to_string(),
        })],
        ("CREATE" | "ALTER" | "DROP", kind) if NOT_TABLES.contains(&kind) || kind == "OR" => {
            not_a_table(&words)
        }
        ("CREATE" | "ALTER", "DATABASE" | "SCHEMA") => not_a_table(&words),
        ("GRANT" | "REVOKE" | "SET" | "FLUSH" | "ANALYZE" | "OPTIMIZE" | "REPAIR" | "CHECK", _) => {
            not_a_table(&words)
        }
        _ => unparsed(),
    }
}

/// MySQL type spellings sqlparser's dialect does not read, in the words it does (MySQL 8.4
/// Reference Manual, "Using Data Types from Other Database Engines" and "The National Character
/// Set"): `NATIONAL CHAR(n)` / `NATIONAL VARCHAR(n)` are CHAR / VARCHAR (in utf8mb3), `LONG
/// VARCHAR` is MEDIUMTEXT, `LONG VARBINARY` is MEDIUMBLOB, and the `BINARY` attribute after a
/// string type (`VARCHAR(20) BINARY`) only names the `_bin` collation.
fn spell_types(tokens: Vec<Token>) -> Vec<Token> {
    let word = |t: &Token| match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    };
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let next_token = tokens[i + 1..].iter().find(|t| !is_blank(t));
        let next = next_token.and_then(word);
        let previous = out.iter().rev().find(|t| !is_blank(t));
        // `… VARCHAR(20) BINARY`, `… TEXT BINARY`; never `BINARY(16)`, the type.
        let binary_attribute = next_token != Some(&Token::LParen)
            && previous.is_some_and(|p| {
                *p == Token::RParen || word(p).is_some_and(|w| STRING_TYPES.contains(&w.as_str()))
            });
        match (word(&tokens[i]).as_deref(), next.as_deref()) {
            (Some("NATIONAL"), Some("CHAR" | "CHARACTER" | "VARCHAR")) => {}
            (Some("LONG"), Some(w @ ("VARCHAR" | "VARBINARY"))) => {
                let medium = if w == "VARCHAR" {
                    "MEDIUMTEXT"
                } else {
                    "MEDIUMBLOB"
                };
                out.push(Token::make_keyword(medium));
                // The next word is spent too.
                i = tokens[i + 1..]
                    .iter()
                    .position(|t| !is_blank(t))
                    .map_or(tokens.len(), |p| i + 1 + p);
            }
            (Some("BINARY"), _) if binary_attribute => {}
            _ => out.push(tokens[i].clone()),
        }
        i += 1;
    }
    out
}

fn not_a_table(words: &[String]) -> Vec<Change> {
    vec![Change::Ignore(Ignored::NotATableChange {
        statement: words[..words.len().min(2)].join(" "),
    })]
}

fn is_blank(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_) | Token::SemiColon | Token::EOF)
}

/// The first `n` unquoted words, upper case (a quoted word or other token ends the list).
fn leading_words(tokens: &[Token], n: usize) -> Vec<String> {
    tokens
        .iter()
        .filter(|t| !is_blank(t))
        .take(n)
        .map_while(|t| match t {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        })
        .collect()
}

/// Splits `tokens` at the commas outside parentheses.
fn split_top_level(tokens: &[Token]) -> Vec<&[Token]> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => {
                parts.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tokens[start..]);
    parts
        .into_iter()
        .filter(|p| !p.iter().all(is_blank))
        .collect()
}

/// Index of the first token after `ALTER … TABLE name` (the name: one or two words).
fn after_table_name(tokens: &[Token]) -> Option<usize> {
    let table = tokens
        .iter()
        .position(|t| matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("TABLE")))?;
    let mut i = table + 1;
    let mut parts = 0;
    while let Some(t) = tokens.get(i) {
        match t {
            Token::Whitespace(_) => {}
            Token::Word(_) if parts == 0 => parts = 1,
            Token::Period if parts == 1 => parts = 2,
            Token::Word(_) if parts == 2 => parts = 3,
            _ => break,
        }
        i += 1;
    }
    (parts == 1 || parts == 3).then_some(i)
}

/// `ALTER TABLE name c1, c2, …`: each clause parsed alone, or classified.
fn alter(tokens: &[Token], source: SourceName<'_>) -> Option<Vec<Change>> {
    let body = after_table_name(tokens)?;
    let head = &tokens[..body];
    let mut changes = Vec::new();
    for clause in split_top_level(&tokens[body..]) {
        match parse_with(head, clause) {
            Some(st) => changes.extend(statement(&st, source)),
            None => changes.extend(classify(head, clause, source)),
        }
    }
    (!changes.is_empty()).then_some(changes)
}

/// `head` + ` ` + `clause` parsed as one statement.
fn parse_with(head: &[Token], clause: &[Token]) -> Option<sqlparser::ast::Statement> {
    let mut tokens = head.to_vec();
    tokens.push(Token::Whitespace(Whitespace::Space));
    tokens.extend(clause.iter().cloned());
    Parser::new(&MySqlDialect {})
        .with_tokens(tokens)
        .parse_statement()
        .ok()
}

/// A clause sqlparser refuses, by its leading keywords.
fn classify(head: &[Token], clause: &[Token], source: SourceName<'_>) -> Vec<Change> {
    let text: String = clause
        .iter()
        .map(ToString::to_string)
        .collect::<String>()
        .trim()
        .to_string();
    let words = leading_words(clause, 3);
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let change = match (w(0), w(1)) {
        ("ADD", _) if first_paren_follows(clause) => return add_columns(head, clause, source),
        ("DROP" | "TRUNCATE" | "EXCHANGE" | "DISCARD" | "IMPORT", "PARTITION" | "TABLESPACE") => {
            Change::CannotApply(CannotApply::RowsWithoutEvents { clause: text })
        }
        (first, "PARTITION" | "PARTITIONING" | "BY") if PARTITION_LAYOUT.contains(&first) => {
            Change::Ignore(Ignored::Partitioning { clause: text })
        }
        ("INDEX", "DIRECTORY") => Change::Ignore(Ignored::TableOption { clause: text }),
        ("INDEX" | "KEY" | "UNIQUE" | "FULLTEXT" | "SPATIAL", _)
        | ("RENAME" | "ALTER", "INDEX" | "KEY") => Change::Ignore(Ignored::Index { clause: text }),
        ("CONSTRAINT" | "FOREIGN" | "CHECK", _) => {
            Change::Ignore(Ignored::Constraint { clause: text })
        }
        ("ALTER", "CHECK" | "CONSTRAINT") => Change::Ignore(Ignored::Constraint { clause: text }),
        ("DEFAULT", "CHARSET" | "CHARACTER" | "COLLATE") => {
            Change::Ignore(Ignored::TableOption { clause: text })
        }
        (first, _) if TABLE_OPTIONS.contains(&first) => {
            Change::Ignore(Ignored::TableOption { clause: text })
        }
        _ => Change::CannotApply(CannotApply::Unsupported { clause: text }),
    };
    vec![change]
}

/// `ADD [COLUMN] (`: MySQL's list form.
fn first_paren_follows(clause: &[Token]) -> bool {
    clause
        .iter()
        .filter(|t| !is_blank(t))
        .find(|t| !matches!(t, Token::Word(w) if w.quote_style.is_none() && (w.value.eq_ignore_ascii_case("ADD") || w.value.eq_ignore_ascii_case("COLUMN"))))
        .is_some_and(|t| *t == Token::LParen)
}

/// `ADD [COLUMN] (a INT, b INT, INDEX (a))`: each element as `ADD COLUMN element`.
fn add_columns(head: &[Token], clause: &[Token], source: SourceName<'_>) -> Vec<Change> {
    let open = clause.iter().position(|t| *t == Token::LParen).unwrap_or(0);
    let close = clause
        .iter()
        .rposition(|t| *t == Token::RParen)
        .unwrap_or(clause.len());
    let inner = clause.get(open + 1..close).unwrap_or(&[]);
    let add = [
        Token::make_keyword("ADD"),
        Token::Whitespace(Whitespace::Space),
        Token::make_keyword("COLUMN"),
        Token::Whitespace(Whitespace::Space),
    ];
    let mut changes = Vec::new();
    for element in split_top_level(inner) {
        let mut tokens = add.to_vec();
        tokens.extend(element.iter().cloned());
        match parse_with(head, &tokens) {
            Some(st) => changes.extend(statement(&st, source)),
            None => changes.extend(classify(head, element, source)),
        }
    }
    changes
}

/// `CREATE TABLE t (…) … PARTITION BY …`: the table without its partitioning, which StarRocks
/// does its own way.
fn create(tokens: &[Token], source: SourceName<'_>) -> Option<Vec<Change>> {
    let mut depth = 0i32;
    let mut seen_columns = false;
    let cut = tokens.iter().position(|t| {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                seen_columns |= depth == 0;
            }
            Token::Word(w) if depth == 0 && seen_columns && w.quote_style.is_none() => {
                return w.value.eq_ignore_ascii_case("PARTITION");
            }
            _ => {}
        }
        false
    })?;
    let st = Parser::new(&MySqlDialect {})
        .with_tokens(tokens[..cut].to_vec())
        .parse_statement()
        .ok()?;
    Some(statement(&st, source))
}
