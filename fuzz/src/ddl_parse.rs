//! The `ddl_parse` target: a DDL message's SQL → `starpipe::ddl::parse` → `ddl::translate`
//! against a small fixed target schema, and `ddl::is_applied`.
//!
//! Input: an optional first line `--@db.table` naming the message's source table (default
//! `shop.orders`), then the statement (bytes that are not UTF-8 replaced).
//!
//! Properties:
//! * never panics; `parse` never returns an empty list and is deterministic;
//! * every reason (ignored, cannot apply) has a message;
//! * every statement `translate` writes is read by sqlparser's tokenizer (MySQL dialect) as:
//!   no `;`, no comment, every unquoted word one of the keywords and type names starpipe
//!   writes, every backquoted identifier a name that the change, the target schema, the target
//!   or the routing holds (so a hostile identifier never escapes its quotes), every string
//!   literal a default or property the input or the schema holds; it starts with `ALTER TABLE`,
//!   `CREATE DATABASE|TABLE`, `TRUNCATE TABLE` or `DROP TABLE`, and names the message's target
//!   (a RENAME TABLE the old name's target);
//! * `is_applied` agrees with `translate`: a column change, CREATE TABLE or DROP TABLE that is
//!   already in the target translates to nothing (an `Ignore`).

use std::collections::{BTreeMap, HashSet};

use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};
use starpipe::config::TargetName;
use starpipe::ddl::{
    self, Change, ColumnDef, ColumnPosition, Context, CreateOptions, DropTables, SourceDefault,
    SourceName, TableRef, TargetStatement, Translation,
};
use starpipe::decode::TypeParts;
use starpipe::schema::{StarRocksType, TableModel, TargetColumn, TargetTable};

/// The message's source table and the statement of a fuzz input.
pub fn split_input(text: &str) -> (String, String, &str) {
    if let Some(rest) = text.strip_prefix("--@") {
        let (name, sql) = rest.split_once('\n').unwrap_or((rest, ""));
        let (db, table) = name.split_once('.').unwrap_or(("shop", name));
        return (db.to_owned(), table.to_owned(), sql);
    }
    ("shop".into(), "orders".into(), text)
}

/// The fixed target `ods.orders`: key (id BIGINT, line INT), then qty INT, name VARCHAR(80),
/// price DECIMAL(10,2) NOT NULL DEFAULT "0.00", flag BOOLEAN, note with a hostile name and
/// default, ts DATETIME DEFAULT CURRENT_TIMESTAMP.
pub fn target_table(db: &str, table: &str) -> TargetTable {
    let c = |name: &str, ty: StarRocksType, nullable: bool, key: bool| {
        TargetColumn::new(name, ty, nullable, key)
    };
    let mut price = c(
        "price",
        StarRocksType::Decimal {
            precision: 10,
            scale: 2,
        },
        false,
        false,
    );
    price.default = Some("0.00".into());
    price.has_default = true;
    let mut note = c("n`o te", StarRocksType::Varchar(255), true, false);
    note.default = Some("it's \"x\"\\".into());
    note.has_default = true;
    let mut ts = c("ts", StarRocksType::DateTime, true, false);
    ts.default = Some("CURRENT_TIMESTAMP".into());
    ts.has_default = true;
    TargetTable::new(
        db,
        table,
        vec![
            c("id", StarRocksType::BigInt, false, true),
            c("line", StarRocksType::Int, false, true),
            c("qty", StarRocksType::Int, true, false),
            c("name", StarRocksType::Varchar(80), true, false),
            price,
            c("flag", StarRocksType::Boolean, true, false),
            note,
            ts,
        ],
        TableModel::PrimaryKeys,
    )
    .expect("fixed table")
}

/// The job's routing in the contexts: database `shop` loads into `ods`, names kept.
fn route(db: &str, table: &str) -> TargetName {
    TargetName {
        db: if db == "shop" {
            "ods".into()
        } else {
            db.into()
        },
        table: table.into(),
    }
}

/// Words starpipe writes unquoted: statement keywords and StarRocks type names.
const KEYWORDS: &[&str] = &[
    "ALTER",
    "TABLE",
    "ADD",
    "COLUMN",
    "NULL",
    "NOT",
    "DEFAULT",
    "AFTER",
    "FIRST",
    "MODIFY",
    "DROP",
    "RENAME",
    "TO",
    "TRUNCATE",
    "CREATE",
    "DATABASE",
    "IF",
    "EXISTS",
    "PRIMARY",
    "KEY",
    "DISTRIBUTED",
    "BY",
    "HASH",
    "BUCKETS",
    "PROPERTIES",
    "CURRENT_TIMESTAMP",
    "BOOLEAN",
    "TINYINT",
    "SMALLINT",
    "INT",
    "BIGINT",
    "LARGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
    "DATE",
    "DATETIME",
    "CHAR",
    "VARCHAR",
    "JSON",
    "VARBINARY",
];

/// What a statement may contain besides keywords: identifiers and string literals.
#[derive(Default)]
struct Allowed {
    idents: HashSet<String>,
    strings: HashSet<String>,
}

impl Allowed {
    fn column(&mut self, c: &ColumnDef) {
        self.idents.insert(c.name.clone());
        match &c.default {
            Some(SourceDefault::Literal(v)) => {
                self.strings.insert(v.clone());
            }
            Some(SourceDefault::Expression(_) | SourceDefault::Null) | None => {}
        }
        if let Some(labels) = TypeParts::of(&c.source_type).labels {
            self.strings.extend(labels.iter().map(|l| l.to_string()));
        }
    }

    fn target(&mut self, t: &TargetName) {
        self.idents.insert(t.db.clone());
        self.idents.insert(t.table.clone());
    }

    fn table_ref(&mut self, r: &TableRef, source_db: &str) {
        let (db, table) = r.resolve(source_db);
        self.target(&route(db, table));
    }
}

fn allowed(change: &Change, ctx: &Context<'_>) -> Allowed {
    let mut a = Allowed::default();
    a.target(ctx.target);
    for s in ["", "0", "00:00:00"] {
        a.strings.insert(s.into());
    }
    if let Some(t) = ctx.schema {
        for c in &t.columns {
            a.idents.insert(c.name.clone());
            a.strings.extend(c.default.clone());
        }
    }
    for (k, v) in &ctx.create.properties {
        a.strings.insert(k.clone());
        a.strings.insert(v.clone());
    }
    a.idents.extend(ctx.create.keys.iter().flatten().cloned());
    match change {
        Change::AddColumn { column, position } => {
            a.column(column);
            if let Some(ColumnPosition::After(x)) = position {
                a.idents.insert(x.clone());
            }
        }
        Change::ModifyColumn { column } => a.column(column),
        Change::ChangeColumn { old_name, column } => {
            a.idents.insert(old_name.clone());
            a.column(column);
        }
        Change::DropColumn { name } => {
            a.idents.insert(name.clone());
        }
        Change::RenameColumn { old_name, new_name } => {
            a.idents.insert(old_name.clone());
            a.idents.insert(new_name.clone());
        }
        Change::CreateTable { schema } => {
            for c in &schema.columns {
                a.idents.insert(c.name.clone());
            }
            a.idents.extend(schema.primary_key.iter().cloned());
        }
        Change::RenameTable { from, to } => {
            a.table_ref(from, ctx.source_db);
            a.table_ref(to, ctx.source_db);
        }
        Change::TruncateTable | Change::DropTable | Change::Ignore(_) | Change::CannotApply(_) => {}
    }
    a
}

/// Checks one statement `translate` wrote for `change`.
fn check_statement(st: &TargetStatement, change: &Change, ctx: &Context<'_>) {
    let fail = |why: String| -> ! {
        panic!(
            "{why}\n  statement: {}\n  change: {change:?}\n  target: {}",
            st.sql, ctx.target
        )
    };
    let tokens = Tokenizer::new(&MySqlDialect {}, &st.sql)
        .tokenize()
        .unwrap_or_else(|e| fail(format!("the statement does not tokenize: {e}")));
    let allowed = allowed(change, ctx);
    let mut words = Vec::new(); // unquoted words and backquoted identifiers, in order
    for token in &tokens {
        match token {
            Token::Word(w) if w.quote_style.is_none() => {
                if !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(&w.value)) {
                    fail(format!("unquoted word {:?}", w.value));
                }
                words.push((w.value.to_ascii_uppercase(), false));
            }
            Token::Word(w) if w.quote_style == Some('`') => {
                if !allowed.idents.contains(&w.value) {
                    fail(format!("identifier {:?} comes from nowhere", w.value));
                }
                words.push((w.value.clone(), true));
            }
            Token::Word(w) => fail(format!("identifier quoted with {:?}", w.quote_style)),
            Token::DoubleQuotedString(s) | Token::SingleQuotedString(s) => {
                if !allowed.strings.contains(s) {
                    fail(format!("string literal {s:?} comes from nowhere"));
                }
            }
            Token::Whitespace(Whitespace::Space | Whitespace::Newline | Whitespace::Tab) => {}
            Token::Number(..)
            | Token::LParen
            | Token::RParen
            | Token::Comma
            | Token::Period
            | Token::Eq => {}
            other => fail(format!("unexpected token {other:?}")),
        }
    }
    let word = |i: usize| words.get(i).map(|(w, q)| (w.as_str(), *q));
    // The table the statement is about: `db`.`table` after its leading keywords.
    let named = |i: usize| match (word(i), word(i + 1)) {
        (Some((db, true)), Some((table, true))) => Some(TargetName {
            db: db.to_owned(),
            table: table.to_owned(),
        }),
        _ => None,
    };
    let about = match (word(0), word(1)) {
        (Some(("ALTER", false)), Some(("TABLE", false))) => named(2),
        (Some(("TRUNCATE", false)), Some(("TABLE", false))) => named(2),
        (Some(("DROP", false)), Some(("TABLE", false))) => named(2),
        (Some(("CREATE", false)), Some(("TABLE", false))) => match word(2) {
            Some(("IF", false)) => named(5),
            _ => named(2),
        },
        (Some(("CREATE", false)), Some(("DATABASE", false))) => {
            let db = words.last().filter(|(_, q)| *q).map(|(w, _)| w.clone());
            if db.as_deref() != Some(ctx.target.db.as_str()) {
                fail("CREATE DATABASE of another database".into());
            }
            return;
        }
        _ => fail("not a statement starpipe writes".into()),
    };
    let expected = match change {
        Change::RenameTable { from, .. } => {
            let (db, table) = from.resolve(ctx.source_db);
            route(db, table)
        }
        _ => ctx.target.clone(),
    };
    if about.as_ref() != Some(&expected) {
        fail(format!("the statement is about {about:?}, not {expected}"));
    }
}

fn check_translation(change: &Change, ctx: &Context<'_>) {
    match ddl::translate(change, ctx) {
        Translation::Apply(statements) => {
            assert!(
                !statements.is_empty(),
                "Apply without statements: {change:?}"
            );
            for st in &statements {
                check_statement(st, change, ctx);
            }
            if ctx.drop_tables == DropTables::Apply
                && already_made_by_nothing(change)
                && ddl::is_applied(change, ctx.schema)
            {
                panic!(
                    "is_applied says {change:?} is in the target, but translate writes {statements:?}"
                );
            }
        }
        Translation::Ignore(i) => assert!(!i.to_string().is_empty()),
        Translation::CannotApply(c) => {
            assert!(!c.to_string().is_empty());
            if ctx.drop_tables == DropTables::Apply
                && already_made_by_nothing(change)
                && ddl::is_applied(change, ctx.schema)
            {
                panic!(
                    "is_applied says {change:?} is in the target, but translate says it cannot be applied: {c}"
                );
            }
        }
    }
}

/// Changes for which "already in the target" means "nothing to run": column changes, CREATE
/// TABLE and DROP TABLE (a RENAME TABLE's `is_applied` needs the old name's schema, not the
/// message table's, so it is not compared here).
fn already_made_by_nothing(change: &Change) -> bool {
    matches!(
        change,
        Change::AddColumn { .. }
            | Change::DropColumn { .. }
            | Change::ModifyColumn { .. }
            | Change::ChangeColumn { .. }
            | Change::RenameColumn { .. }
            | Change::CreateTable { .. }
            | Change::DropTable
    )
}

/// The `ddl_parse` target.
pub fn check_ddl(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (db, table, sql) = split_input(&text);
    check_ddl_sql(&db, &table, sql);
}

/// Checks one statement for the message table `db.table`.
pub fn check_ddl_sql(db: &str, table: &str, sql: &str) {
    let source = SourceName { db, table };
    let changes = ddl::parse(sql, source);
    assert!(!changes.is_empty(), "parse returned no change for {sql:?}");
    assert_eq!(
        changes,
        ddl::parse(sql, source),
        "parse is not deterministic"
    );

    let plain = TargetName {
        db: "ods".into(),
        table: "orders".into(),
    };
    let odd = TargetName {
        db: "o`ds".into(),
        table: "or ders`".into(),
    };
    let plain_schema = target_table(&plain.db, &plain.table);
    let odd_schema = target_table(&odd.db, &odd.table);
    let defaults = CreateOptions::default();
    let options = CreateOptions {
        buckets: Some(4),
        properties: BTreeMap::from([
            ("replication_num".to_string(), "1".to_string()),
            ("we\"ird\\".to_string(), "va'l`ue".to_string()),
        ]),
        keys: Some(vec!["id".into()]),
    };
    let contexts = [
        (&plain, Some(&plain_schema), DropTables::Apply, &defaults),
        (&odd, Some(&odd_schema), DropTables::Refuse, &options),
        (&odd, None, DropTables::Apply, &options),
        (&plain, None, DropTables::Refuse, &defaults),
    ];
    for change in &changes {
        match change {
            Change::Ignore(i) => assert!(!i.to_string().is_empty()),
            Change::CannotApply(c) => assert!(!c.to_string().is_empty()),
            _ => {}
        }
        for (target, schema, drop_tables, create) in contexts {
            let ctx = Context {
                source_db: db,
                target,
                schema,
                drop_tables,
                create,
                route: &route,
            };
            check_translation(change, &ctx);
            let _ = ddl::is_applied(change, schema);
            let _ = change.own_target(db, &route);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_name_their_table() {
        assert_eq!(
            split_input("--@a.b\nDROP TABLE b"),
            ("a".into(), "b".into(), "DROP TABLE b")
        );
        assert_eq!(
            split_input("TRUNCATE t"),
            ("shop".into(), "orders".into(), "TRUNCATE t")
        );
    }

    #[test]
    fn typical_statements_pass() {
        for sql in [
            "ALTER TABLE orders ADD COLUMN channel varchar(32) NOT NULL DEFAULT 'web' AFTER qty",
            "ALTER TABLE `orders` ADD COLUMN `we``ird` int, DROP COLUMN note, MODIFY name varchar(200)",
            "ALTER TABLE orders CHANGE name title varchar(100)",
            "ALTER TABLE orders RENAME COLUMN qty TO quantity",
            "CREATE TABLE orders (id bigint NOT NULL, v enum('a','b\\'c'), PRIMARY KEY (id))",
            "TRUNCATE TABLE orders",
            "DROP TABLE orders",
            "RENAME TABLE orders TO orders_old",
            "ALTER TABLE orders ADD INDEX i (qty)",
            "CREATE VIEW v AS SELECT 1",
            "",
            "garbage (",
        ] {
            check_ddl_sql("shop", "orders", sql);
        }
    }

    #[test]
    fn a_broken_out_identifier_is_caught() {
        let target = TargetName {
            db: "ods".into(),
            table: "orders".into(),
        };
        let schema = target_table("ods", "orders");
        let create = CreateOptions::default();
        let ctx = Context {
            source_db: "shop",
            target: &target,
            schema: Some(&schema),
            drop_tables: DropTables::Apply,
            create: &create,
            route: &route,
        };
        let change = Change::DropColumn {
            name: "x` INT, DROP COLUMN `qty".into(),
        };
        // What a missing doubling of the backquote would write:
        let bad = TargetStatement::new(
            "ALTER TABLE `ods`.`orders` DROP COLUMN `x` INT, DROP COLUMN `qty`".into(),
            ddl::StatementKind::SchemaChange,
        );
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_statement(&bad, &change, &ctx)
        }));
        assert!(caught.is_err());
        let good = TargetStatement::new(
            "ALTER TABLE `ods`.`orders` DROP COLUMN `x`` INT, DROP COLUMN ``qty`".into(),
            ddl::StatementKind::SchemaChange,
        );
        check_statement(&good, &change, &ctx);
    }
}
