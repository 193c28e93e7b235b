use super::*;

#[test]
fn already_applied_per_kind() {
    let s = table();
    let add = |name: &str, ty: &str| Change::AddColumn {
        column: col(name, ty),
        position: None,
    };
    let modify = |name: &str, ty: &str| Change::ModifyColumn {
        column: col(name, ty),
    };
    let change = |old: &str, name: &str, ty: &str| Change::ChangeColumn {
        old_name: old.into(),
        column: col(name, ty),
    };
    let rename = |old: &str, new: &str| Change::RenameColumn {
        old_name: old.into(),
        new_name: new.into(),
    };
    let create = Change::CreateTable {
        schema: crate::model::TableSchema {
            columns: vec![],
            primary_key: vec![],
        },
    };
    for (change, on_table, on_nothing) in [
        (add("qty", "int"), true, false),
        (add("qty", "smallint"), true, false),
        (add("qty", "bigint"), false, false),
        (add("new", "int"), false, false),
        (
            Change::DropColumn {
                name: "gone".into(),
            },
            true,
            false,
        ),
        (Change::DropColumn { name: "qty".into() }, false, false),
        (modify("qty", "int"), true, false),
        (modify("qty", "bigint"), false, false),
        (modify("name", "varchar(20)"), true, false),
        (change("old", "qty", "int"), true, false),
        (change("qty", "quantity", "int"), false, false),
        (change("qty", "qty", "tinyint"), true, false),
        (rename("old", "qty"), true, false),
        (rename("qty", "quantity"), false, false),
        (create.clone(), true, false),
        (Change::TruncateTable, false, false),
        (Change::DropTable, false, true),
        (
            Change::RenameTable {
                from: TableRef {
                    db: None,
                    table: "orders".into(),
                },
                to: TableRef {
                    db: None,
                    table: "x".into(),
                },
            },
            false,
            true,
        ),
        (
            Change::Ignore(Ignored::Index { clause: "i".into() }),
            false,
            false,
        ),
    ] {
        assert_eq!(
            is_applied(&change, Some(&s)),
            on_table,
            "{change:?} on the table"
        );
        assert_eq!(
            is_applied(&change, None),
            on_nothing,
            "{change:?} without a table"
        );
    }
}

#[test]
fn a_rename_is_checked_on_the_old_name_s_target() {
    let route = |db: &str, t: &str| TargetName {
        db: format!("ods_{db}"),
        table: t.to_string(),
    };
    let rename = Change::RenameTable {
        from: TableRef {
            db: None,
            table: "coupons".into(),
        },
        to: TableRef {
            db: Some("shop".into()),
            table: "vouchers".into(),
        },
    };
    assert_eq!(
        rename.own_target("shop", &route),
        Some(TargetName {
            db: "ods_shop".into(),
            table: "coupons".into()
        })
    );
    assert_eq!(Change::TruncateTable.own_target("shop", &route), None);
}
