use std::collections::BTreeMap;

use super::*;
use crate::model::{SchemaColumn, TableSchema};

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

fn ctx<'a>(
    target: &'a TargetName,
    schema: Option<&'a TargetTable>,
    drop_tables: DropTables,
    create: &'a CreateOptions,
) -> Context<'a> {
    Context {
        source_db: "shop",
        target,
        schema,
        drop_tables,
        create,
        route: &route,
    }
}

/// The statements of `change` on `ods.orders` (schema of [`table`]), or the outcome.
fn apply(change: Change) -> Translation {
    let (t, s, o) = (target(), table(), CreateOptions::default());
    translate(&change, &ctx(&t, Some(&s), DropTables::Refuse, &o))
}

fn sql(change: Change) -> Vec<(String, StatementKind)> {
    match apply(change.clone()) {
        Translation::Apply(statements) => statements.into_iter().map(|s| (s.sql, s.kind)).collect(),
        other => panic!("{change:?}: expected statements, got {other:?}"),
    }
}

fn add(c: ColumnDef, position: Option<ColumnPosition>) -> Change {
    Change::AddColumn {
        column: c,
        position,
    }
}

use StatementKind::{Immediate, SchemaChange};

#[test]
fn add_column() {
    let nn = |mut c: ColumnDef| {
        c.not_null = true;
        c
    };
    let dflt = |mut c: ColumnDef, d: &str| {
        c.default = Some(SourceDefault::Literal(d.into()));
        c
    };
    let alter = |clause: &str| vec![(format!("ALTER TABLE `ods`.`orders` {clause}"), SchemaChange)];
    for (change, want) in [
        (
            add(col("note", "varchar(20)"), None),
            "ADD COLUMN `note` VARCHAR(80) NULL",
        ),
        (
            add(col("note", "int"), Some(ColumnPosition::First)),
            "ADD COLUMN `note` INT NULL AFTER `line`",
        ),
        (
            add(col("note", "int"), Some(ColumnPosition::After("ID".into()))),
            "ADD COLUMN `note` INT NULL AFTER `line`",
        ),
        (
            add(
                col("note", "int"),
                Some(ColumnPosition::After("qty".into())),
            ),
            "ADD COLUMN `note` INT NULL AFTER `qty`",
        ),
        (
            add(
                col("note", "int"),
                Some(ColumnPosition::After("gone".into())),
            ),
            "ADD COLUMN `note` INT NULL",
        ),
        (
            add(nn(col("n", "int unsigned")), None),
            "ADD COLUMN `n` BIGINT NULL DEFAULT \"0\"",
        ),
        (
            add(nn(col("n", "varchar(3)")), None),
            "ADD COLUMN `n` VARCHAR(12) NULL DEFAULT \"\"",
        ),
        (
            add(nn(col("n", "enum('new','old')")), None),
            "ADD COLUMN `n` VARCHAR(12) NULL DEFAULT \"new\"",
        ),
        (
            add(nn(col("n", "datetime")), None),
            "ADD COLUMN `n` DATETIME NULL",
        ),
        (
            add(dflt(col("n", "decimal(10,2)"), "1.50"), None),
            "ADD COLUMN `n` DECIMAL(10,2) NULL DEFAULT \"1.50\"",
        ),
        (
            add(dflt(col("n", "datetime"), "0000-00-00 00:00:00"), None),
            "ADD COLUMN `n` DATETIME NULL",
        ),
        (
            add(dflt(col("n", "varchar(8)"), "say \"hi\""), None),
            "ADD COLUMN `n` VARCHAR(32) NULL DEFAULT \"say \\\"hi\\\"\"",
        ),
        (
            add(col("we`ird col", "json"), None),
            "ADD COLUMN `we``ird col` JSON NULL",
        ),
        (
            add(col("select", "text"), None),
            "ADD COLUMN `select` VARCHAR(65535) NULL",
        ),
        (
            add(col("日本語", "bit(1)"), None),
            "ADD COLUMN `日本語` BOOLEAN NULL",
        ),
    ] {
        assert_eq!(sql(change.clone()), alter(want), "{change:?}");
    }
    assert!(matches!(
        apply(add(col("QTY", "smallint"), None)),
        Translation::Ignore(Ignored::AlreadyHolds { .. })
    ));
    assert!(matches!(
        apply(add(col("qty", "bigint"), None)),
        Translation::CannotApply(CannotApply::ColumnExists { .. })
    ));
    assert!(matches!(
        apply(add(col("x", "uuid"), None)),
        Translation::CannotApply(CannotApply::Type { .. })
    ));
}

#[test]
fn drop_modify_change_rename_column() {
    let alter = |clause: &str, kind| (format!("ALTER TABLE `ods`.`orders` {clause}"), kind);
    let modify = |name: &str, ty: &str| Change::ModifyColumn {
        column: col(name, ty),
    };
    let change = |old: &str, name: &str, ty: &str| Change::ChangeColumn {
        old_name: old.into(),
        column: col(name, ty),
    };
    for (change, want) in [
        (
            Change::DropColumn { name: "Qty".into() },
            vec![alter("DROP COLUMN `qty`", SchemaChange)],
        ),
        (
            modify("qty", "bigint"),
            vec![alter("MODIFY COLUMN `qty` BIGINT NULL", SchemaChange)],
        ),
        (
            modify("name", "varchar(40)"),
            vec![alter(
                "MODIFY COLUMN `name` VARCHAR(160) NULL",
                SchemaChange,
            )],
        ),
        (
            modify("price", "decimal(12,2)"),
            vec![alter(
                "MODIFY COLUMN `price` DECIMAL(12,2) NOT NULL DEFAULT \"0.00\"",
                SchemaChange,
            )],
        ),
        (
            Change::RenameColumn {
                old_name: "name".into(),
                new_name: "we`ird".into(),
            },
            vec![alter("RENAME COLUMN `name` TO `we``ird`", Immediate)],
        ),
        (
            change("name", "title", "varchar(10)"),
            vec![alter("RENAME COLUMN `name` TO `title`", Immediate)],
        ),
        (
            change("qty", "quantity", "bigint"),
            vec![
                alter("RENAME COLUMN `qty` TO `quantity`", Immediate),
                alter("MODIFY COLUMN `quantity` BIGINT NULL", SchemaChange),
            ],
        ),
        (
            change("qty", "qty", "bigint"),
            vec![alter("MODIFY COLUMN `qty` BIGINT NULL", SchemaChange)],
        ),
        (
            Change::RenameColumn {
                old_name: "id".into(),
                new_name: "oid".into(),
            },
            vec![alter("RENAME COLUMN `id` TO `oid`", Immediate)],
        ),
    ] {
        assert_eq!(sql(change.clone()), want, "{change:?}");
    }
    for (change, want) in [
        (
            Change::DropColumn {
                name: "gone".into(),
            },
            "ignored: no such column",
        ),
        (
            Change::DropColumn { name: "id".into() },
            "refused: key column",
        ),
        (modify("qty", "smallint"), "ignored: holds"),
        (modify("name", "char(10)"), "ignored: holds"),
        (modify("qty", "decimal(12,2)"), "refused: type change"),
        (modify("flag", "int"), "refused: type change"),
        (modify("id", "int"), "ignored: holds"),
        (modify("id", "decimal(30,0)"), "refused: key column"),
        (modify("gone", "int"), "refused: missing column"),
        (change("gone", "x", "int"), "refused: missing column"),
        (
            Change::RenameColumn {
                old_name: "gone".into(),
                new_name: "name".into(),
            },
            "ignored: no such column",
        ),
        (
            Change::RenameColumn {
                old_name: "gone".into(),
                new_name: "x".into(),
            },
            "refused: missing column",
        ),
    ] {
        let got = match apply(change.clone()) {
            Translation::Ignore(Ignored::NoSuchColumn { .. }) => "ignored: no such column",
            Translation::Ignore(Ignored::AlreadyHolds { .. }) => "ignored: holds",
            Translation::CannotApply(CannotApply::KeyColumn { .. }) => "refused: key column",
            Translation::CannotApply(CannotApply::TypeChange { .. }) => "refused: type change",
            Translation::CannotApply(CannotApply::MissingColumn { .. }) => {
                "refused: missing column"
            }
            other => panic!("{change:?}: {other:?}"),
        };
        assert_eq!(got, want, "{change:?}");
    }
}

#[test]
fn column_changes_need_the_target() {
    let (t, o) = (target(), CreateOptions::default());
    let got = translate(
        &Change::DropColumn { name: "a".into() },
        &ctx(&t, None, DropTables::Apply, &o),
    );
    assert!(matches!(
        got,
        Translation::CannotApply(CannotApply::NoTargetTable { .. })
    ));
}

fn schema(cols: &[(&str, &str)], pk: &[&str]) -> TableSchema {
    TableSchema {
        columns: cols
            .iter()
            .map(|(n, t)| SchemaColumn {
                name: n.to_string(),
                type_expr: t.to_string(),
            })
            .collect(),
        primary_key: pk.iter().map(|k| k.to_string()).collect(),
    }
}

#[test]
fn create_table_puts_the_key_first() {
    let t = TargetName {
        db: "my_db".into(),
        table: "orders".into(),
    };
    let s = schema(
        &[
            ("no`te", "text"),
            ("line", "int"),
            ("id", "char(8)"),
            ("amt", "decimal(10,2)"),
        ],
        &["id", "line"],
    );
    let options = CreateOptions {
        buckets: Some(4),
        properties: BTreeMap::from([
            ("replication_num".to_string(), "1".to_string()),
            ("we\"ird".to_string(), "v".to_string()),
        ]),
        keys: None,
    };
    let got = translate(
        &Change::CreateTable { schema: s.clone() },
        &ctx(&t, None, DropTables::Refuse, &options),
    );
    let want = "CREATE TABLE IF NOT EXISTS `my_db`.`orders` (\n  `id` VARCHAR(32) NOT NULL,\n  \
                `line` INT NOT NULL,\n  `no``te` VARCHAR(65535) NULL,\n  `amt` DECIMAL(10,2) NULL\n)\n\
                PRIMARY KEY (`id`, `line`)\nDISTRIBUTED BY HASH (`id`, `line`) BUCKETS 4\n\
                PROPERTIES (\n  \"replication_num\" = \"1\",\n  \"we\\\"ird\" = \"v\"\n)";
    assert_eq!(
        got,
        Translation::Apply(vec![
            TargetStatement::new("CREATE DATABASE IF NOT EXISTS `my_db`".into(), Immediate),
            TargetStatement::new(want.into(), Immediate),
        ])
    );
    // Automatic bucketing, no properties.
    let plain = create_table(
        &target(),
        &schema(&[("id", "int")], &["id"]),
        &CreateOptions::default(),
    )
    .unwrap();
    assert_eq!(
        plain[1].sql,
        "CREATE TABLE IF NOT EXISTS `ods`.`orders` (\n  `id` INT NOT NULL\n)\nPRIMARY KEY (`id`)\nDISTRIBUTED BY HASH (`id`)"
    );
}

#[test]
fn create_table_needs_a_key() {
    let no_pk = schema(&[("a", "int"), ("b", "text")], &[]);
    assert_eq!(
        create_table(&target(), &no_pk, &CreateOptions::default()),
        Err(CannotApply::NoPrimaryKey)
    );
    let keyed = CreateOptions {
        keys: Some(vec!["A".into()]),
        ..CreateOptions::default()
    };
    let made = create_table(&target(), &no_pk, &keyed).unwrap();
    assert!(made[1].sql.contains("PRIMARY KEY (`a`)"), "{}", made[1].sql);
    let wrong = CreateOptions {
        keys: Some(vec!["c".into()]),
        ..CreateOptions::default()
    };
    assert_eq!(
        create_table(&target(), &no_pk, &wrong),
        Err(CannotApply::KeyNotAColumn { column: "c".into() })
    );
    let float_key = schema(&[("f", "double")], &["f"]);
    assert!(matches!(
        create_table(&target(), &float_key, &CreateOptions::default()),
        Err(CannotApply::Type { .. })
    ));
    // The target exists already: nothing to create.
    assert!(matches!(
        apply(Change::CreateTable { schema: no_pk }),
        Translation::Ignore(Ignored::TableExists { .. })
    ));
}

#[test]
fn truncate_drop_rename_table() {
    let (t, s, o) = (target(), table(), CreateOptions::default());
    let run = |change: Change, schema: Option<&TargetTable>, drop_tables| {
        translate(&change, &ctx(&t, schema, drop_tables, &o))
    };
    let one = |sql: &str| Translation::Apply(vec![TargetStatement::new(sql.into(), Immediate)]);
    assert_eq!(
        run(Change::TruncateTable, Some(&s), DropTables::Refuse),
        one("TRUNCATE TABLE `ods`.`orders`")
    );
    assert!(matches!(
        run(Change::TruncateTable, None, DropTables::Refuse),
        Translation::Ignore(Ignored::NoSuchTable { .. })
    ));
    assert!(matches!(
        run(Change::DropTable, Some(&s), DropTables::Refuse),
        Translation::CannotApply(CannotApply::NotAllowed { .. })
    ));
    assert_eq!(
        run(Change::DropTable, Some(&s), DropTables::Apply),
        one("DROP TABLE `ods`.`orders`")
    );
    assert!(matches!(
        run(Change::DropTable, None, DropTables::Apply),
        Translation::Ignore(Ignored::NoSuchTable { .. })
    ));
    let rename = |from: (Option<&str>, &str), to: (Option<&str>, &str)| Change::RenameTable {
        from: TableRef {
            db: from.0.map(Into::into),
            table: from.1.into(),
        },
        to: TableRef {
            db: to.0.map(Into::into),
            table: to.1.into(),
        },
    };
    let r = rename((None, "orders"), (None, "orders_old"));
    assert!(matches!(
        run(r.clone(), Some(&s), DropTables::Refuse),
        Translation::CannotApply(CannotApply::NotAllowed { .. })
    ));
    assert_eq!(
        run(r, Some(&s), DropTables::Apply),
        one("ALTER TABLE `ods`.`orders` RENAME `orders_old`")
    );
    let across = rename((None, "orders"), (Some("archive"), "orders"));
    assert!(matches!(
        run(across, Some(&s), DropTables::Apply),
        Translation::CannotApply(CannotApply::CrossDatabaseRename { .. })
    ));
    let same = rename((Some("shop"), "orders"), (Some("ods"), "orders"));
    assert!(matches!(
        run(same, Some(&s), DropTables::Apply),
        Translation::Ignore(Ignored::SameTarget { .. })
    ));
}

#[test]
fn parsed_outcomes_pass_through() {
    let i = Ignored::Index {
        clause: "ADD INDEX i (a)".into(),
    };
    assert_eq!(apply(Change::Ignore(i.clone())), Translation::Ignore(i));
    let c = CannotApply::DropDatabase { db: "shop".into() };
    assert_eq!(
        apply(Change::CannotApply(c.clone())),
        Translation::CannotApply(c)
    );
}

/// Parse and translation together, as the engine uses them.
#[test]
fn statements_end_to_end() {
    let (t, s, o) = (target(), table(), CreateOptions::default());
    let c = ctx(&t, Some(&s), DropTables::Refuse, &o);
    let sql: Vec<String> = parse(
        "ALTER TABLE orders ADD COLUMN `we``ird` int AFTER id, ADD INDEX i (qty), MODIFY qty bigint, ENGINE=InnoDB",
        SOURCE,
    )
    .iter()
    .filter_map(|change| match translate(change, &c) {
        Translation::Apply(st) => Some(st.into_iter().map(|s| s.sql)),
        _ => None,
    })
    .flatten()
    .collect();
    assert_eq!(
        sql,
        [
            "ALTER TABLE `ods`.`orders` ADD COLUMN `we``ird` INT NULL AFTER `line`",
            "ALTER TABLE `ods`.`orders` MODIFY COLUMN `qty` BIGINT NULL",
        ]
    );
}

#[test]
fn names_starpipe_could_not_load_into_are_refused() {
    let bad = |change: Change| {
        assert!(
            matches!(
                apply(change.clone()),
                Translation::CannotApply(CannotApply::BadName(_))
            ),
            "{change:?}"
        )
    };
    bad(add(col("line\nbreak", "int"), None));
    bad(add(col("__starrocks_shadow_v", "int"), None));
    bad(Change::RenameColumn {
        old_name: "note".into(),
        new_name: "a=b".into(),
    });
    bad(Change::ChangeColumn {
        old_name: "note".into(),
        column: col("tab\there", "varchar(10)"),
    });
    // Odd but loadable names are quoted, not refused.
    assert!(matches!(
        apply(add(col("sp ace `q` 名", "int"), None)),
        Translation::Apply(_)
    ));
}
