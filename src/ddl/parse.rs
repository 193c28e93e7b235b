//! A MySQL DDL statement (the `sql` of a Canal or CloudCanal DDL message) → the [`Change`]s it
//! makes to the message's table. The SQL is read by `sqlparser`'s MySQL dialect; what that
//! parser does not know (MySQL table options, partition clauses, `ADD COLUMN (a …, b …)`) goes
//! through [`super::clauses`], which splits the statement into its clauses with sqlparser's
//! tokenizer and parses or classifies each one.

use sqlparser::ast::{ObjectName, ObjectType, Statement};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::change::{CannotApply, Change, Ignored, TableRef};
use super::clauses;
use super::columns::create_table;
use super::operations::operation;

/// The message's source table: the one the changes are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceName<'a> {
    pub db: &'a str,
    pub table: &'a str,
}

/// The changes `sql` makes to `source`, in statement order; never empty. A statement that
/// cannot be read is one [`Change::CannotApply`].
pub fn parse(sql: &str, source: SourceName<'_>) -> Vec<Change> {
    match Parser::parse_sql(&MySqlDialect {}, sql) {
        Ok(statements) if statements.len() == 1 => statement(&statements[0], source),
        Ok(statements) if statements.is_empty() => vec![Change::Ignore(Ignored::NotATableChange {
            statement: "an empty statement".into(),
        })],
        Ok(_) => vec![Change::CannotApply(CannotApply::Unsupported {
            clause: "several statements in one DDL message".into(),
        })],
        Err(error) => clauses::fallback(sql, source, error.to_string()),
    }
}

/// The changes of one parsed statement.
pub(super) fn statement(st: &Statement, source: SourceName<'_>) -> Vec<Change> {
    let kind = || first_words(st);
    match st {
        Statement::AlterTable(alter) => match check_table(&alter.name, source, &kind()) {
            Some(refused) => vec![refused],
            None => alter
                .operations
                .iter()
                .flat_map(|op| operation(op, &alter.name))
                .collect(),
        },
        Statement::CreateTable(create) => match check_table(&create.name, source, &kind()) {
            Some(refused) => vec![refused],
            None => vec![create_table(create)],
        },
        Statement::Truncate(t) => {
            let names: Vec<&ObjectName> = t.table_names.iter().map(|n| &n.name).collect();
            several(&names, source, &kind(), Change::TruncateTable)
        }
        Statement::Drop {
            object_type, names, ..
        } => drop(*object_type, names, source, &kind()),
        Statement::RenameTable(pairs) => renames(pairs, source),
        Statement::CreateIndex(_) => vec![Change::Ignore(Ignored::Index { clause: kind() })],
        _ => vec![other(st, kind())],
    }
}

/// Statements that are not about a table's rows or columns.
fn other(st: &Statement, kind: String) -> Change {
    match st {
        Statement::CreateView(_)
        | Statement::AlterView(_)
        | Statement::CreateDatabase { .. }
        | Statement::CreateSchema { .. }
        | Statement::AlterSchema(_)
        | Statement::CreateFunction(_)
        | Statement::CreateProcedure { .. }
        | Statement::CreateTrigger(_)
        | Statement::DropTrigger(_)
        | Statement::DropFunction(_)
        | Statement::DropProcedure { .. }
        | Statement::Grant(_)
        | Statement::Revoke(_)
        | Statement::CreateUser(_) => Change::Ignore(Ignored::NotATableChange { statement: kind }),
        Statement::AlterIndex { .. } => Change::Ignore(Ignored::Index { clause: kind }),
        _ => Change::CannotApply(CannotApply::Unsupported { clause: kind }),
    }
}

/// The first words of a statement, to name it in reasons (`ALTER TABLE`, `CREATE VIEW`).
fn first_words(st: &Statement) -> String {
    let text = st.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    words.join(" ")
}

/// `(db, table)` of an object name: its last two parts.
pub(super) fn table_ref(name: &ObjectName) -> TableRef {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| match p.as_ident() {
            Some(i) => i.value.clone(),
            None => p.to_string(),
        })
        .collect();
    match parts.as_slice() {
        [.., db, table] => TableRef {
            db: Some(db.clone()),
            table: table.clone(),
        },
        [table] => TableRef {
            db: None,
            table: table.clone(),
        },
        [] => TableRef {
            db: None,
            table: String::new(),
        },
    }
}

/// Whether `name` is the message's table (a message without a table accepts any). MySQL table
/// names may or may not be case-sensitive (`lower_case_table_names`), so case is ignored.
pub(super) fn is_source(name: &TableRef, source: SourceName<'_>) -> bool {
    if source.table.is_empty() {
        return true;
    }
    let same = |a: &str, b: &str| crate::schema::names_equal_ci(a, b);
    same(&name.table, source.table) && name.db.as_deref().is_none_or(|db| same(db, source.db))
}

fn check_table(name: &ObjectName, source: SourceName<'_>, kind: &str) -> Option<Change> {
    let named = table_ref(name);
    (!is_source(&named, source)).then(|| {
        Change::CannotApply(CannotApply::OtherTable {
            statement: kind.to_string(),
            named: named.to_string(),
            table: format!("{}.{}", source.db, source.table),
        })
    })
}

/// A statement naming several tables (`DROP TABLE a, b`, `TRUNCATE a`): `change` for the
/// message's table; the others get their own messages.
fn several(
    names: &[&ObjectName],
    source: SourceName<'_>,
    kind: &str,
    change: Change,
) -> Vec<Change> {
    let refs: Vec<TableRef> = names.iter().map(|n| table_ref(n)).collect();
    let others: Vec<String> = refs
        .iter()
        .filter(|r| !is_source(r, source))
        .map(ToString::to_string)
        .collect();
    if others.len() == refs.len() {
        return vec![Change::CannotApply(CannotApply::OtherTable {
            statement: kind.to_string(),
            named: others.join(", "),
            table: format!("{}.{}", source.db, source.table),
        })];
    }
    let mut out = vec![change];
    if !others.is_empty() {
        out.push(Change::Ignore(Ignored::OtherTables {
            statement: kind.to_string(),
            others: others.join(", "),
            table: format!("{}.{}", source.db, source.table),
        }));
    }
    out
}

fn drop(
    object_type: ObjectType,
    names: &[ObjectName],
    source: SourceName<'_>,
    kind: &str,
) -> Vec<Change> {
    match object_type {
        ObjectType::Table => {
            let names: Vec<&ObjectName> = names.iter().collect();
            several(&names, source, kind, Change::DropTable)
        }
        ObjectType::Index => vec![Change::Ignore(Ignored::Index {
            clause: kind.to_string(),
        })],
        ObjectType::Database | ObjectType::Schema => {
            vec![Change::CannotApply(CannotApply::DropDatabase {
                db: names
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            })]
        }
        _ => vec![Change::Ignore(Ignored::NotATableChange {
            statement: format!("{kind} {object_type}"),
        })],
    }
}

/// `RENAME TABLE a TO b, c TO d`: the pairs that involve the message's table (by its old or
/// new name); all of them when none does (a message naming no table).
fn renames(pairs: &[sqlparser::ast::RenameTable], source: SourceName<'_>) -> Vec<Change> {
    let all: Vec<(TableRef, TableRef)> = pairs
        .iter()
        .map(|p| (table_ref(&p.old_name), table_ref(&p.new_name)))
        .collect();
    let mine: Vec<&(TableRef, TableRef)> = all
        .iter()
        .filter(|(from, to)| is_source(from, source) || is_source(to, source))
        .collect();
    let chosen: Vec<&(TableRef, TableRef)> = if mine.is_empty() {
        all.iter().collect()
    } else {
        mine
    };
    chosen
        .into_iter()
        .map(|(from, to)| Change::RenameTable {
            from: from.clone(),
            to: to.clone(),
        })
        .collect()
}
