//! Reading StarRocks' `SHOW GRANTS` (3.x privilege system): one `GRANT …` statement per row in
//! the `Grants` column, e.g.
//!
//! ```text
//! GRANT 'root', 'loader' TO 'u'@'%'                                     (roles; Catalog NULL)
//! GRANT INSERT, SELECT ON TABLE ods.orders TO USER 'u'@'%'
//! GRANT SELECT ON ALL TABLES IN DATABASE ods TO USER 'u'@'%'
//! GRANT INSERT, SELECT ON ALL TABLES IN ALL DATABASES TO USER 'u'@'%'
//! ```
//!
//! Pure text handling; the queries are in `starrocks.rs`.

use super::Privilege;
use crate::config::TargetName;

/// Built-in roles that hold every table privilege.
pub(super) const ALL_PRIVILEGE_ROLES: &[&str] = &["root", "db_admin"];

/// One `GRANT` statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Grant {
    /// `GRANT 'r1', 'r2' TO …`
    Roles(Vec<String>),
    /// `GRANT <privileges> ON <scope> TO …`
    Privileges {
        privileges: Vec<Privilege>,
        scope: Scope,
    },
}

/// What a privilege grant covers, as far as tables go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Scope {
    /// `ON TABLE db.t[, db.t2]`
    Tables(Vec<TargetName>),
    /// `ON ALL TABLES IN DATABASE db`
    AllTablesIn(String),
    /// `ON ALL TABLES IN ALL DATABASES`
    AllTables,
    /// Databases, catalogs, the system, …: no table privilege.
    Other,
}

impl Scope {
    fn covers(&self, table: &TargetName) -> bool {
        match self {
            Scope::Tables(tables) => tables.contains(table),
            Scope::AllTablesIn(db) => *db == table.db,
            Scope::AllTables => true,
            Scope::Other => false,
        }
    }
}

/// Parses one `Grants` cell; `None` when it is not a `GRANT … TO …` statement.
pub(super) fn parse(text: &str) -> Option<Grant> {
    let text = text.trim();
    let body = strip_prefix_ci(text, "GRANT ")?;
    let to = find_ci(body, " TO ")?;
    let (what, _) = body.split_at(to);
    let Some(on) = find_ci(what, " ON ") else {
        return Some(Grant::Roles(what.split(',').map(unquote).collect()));
    };
    let (privileges, scope) = (&what[..on], &what[on + " ON ".len()..]);
    Some(Grant::Privileges {
        privileges: privileges_in(privileges),
        scope: scope_of(scope),
    })
}

/// The table privileges (of SELECT, INSERT, ALTER) `grants` give on `table`.
pub(super) fn granted(grants: &[Grant], table: &TargetName) -> Vec<Privilege> {
    let mut out: Vec<Privilege> = grants
        .iter()
        .filter_map(|g| match g {
            Grant::Privileges { privileges, scope } if scope.covers(table) => Some(privileges),
            _ => None,
        })
        .flatten()
        .copied()
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The roles `grants` give.
pub(super) fn roles(grants: &[Grant]) -> Vec<String> {
    grants
        .iter()
        .filter_map(|g| match g {
            Grant::Roles(r) => Some(r.iter().cloned()),
            Grant::Privileges { .. } => None,
        })
        .flatten()
        .collect()
}

fn privileges_in(text: &str) -> Vec<Privilege> {
    let all = [Privilege::Select, Privilege::Insert, Privilege::Alter];
    let mut out = Vec::new();
    for word in text.split(',').map(|w| w.trim().to_ascii_uppercase()) {
        match word.as_str() {
            "ALL" | "ALL PRIVILEGES" => out.extend(all),
            "SELECT" => out.push(Privilege::Select),
            "INSERT" => out.push(Privilege::Insert),
            "ALTER" => out.push(Privilege::Alter),
            _ => {}
        }
    }
    out
}

fn scope_of(text: &str) -> Scope {
    let text = text.trim();
    if let Some(tables) = strip_prefix_ci(text, "TABLE ") {
        return Scope::Tables(tables.split(',').filter_map(table_name).collect());
    }
    if let Some(rest) = strip_prefix_ci(text, "ALL TABLES IN ") {
        if rest.trim().eq_ignore_ascii_case("ALL DATABASES") {
            return Scope::AllTables;
        }
        if let Some(db) = strip_prefix_ci(rest, "DATABASE ") {
            return Scope::AllTablesIn(unquote(db));
        }
    }
    Scope::Other
}

/// `db.t`, `` `db`.`t` ``.
fn table_name(text: &str) -> Option<TargetName> {
    let (db, table) = text.trim().split_once('.')?;
    Some(TargetName {
        db: unquote(db),
        table: unquote(table),
    })
}

/// A name without its quotes (`'r'`, `` `t` ``, `"d"`) and surrounding blanks.
fn unquote(text: &str) -> String {
    text.trim().trim_matches(['\'', '`', '"']).to_string()
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Byte position of the first case-insensitive occurrence of ASCII `needle`.
fn find_ci(text: &str, needle: &str) -> Option<usize> {
    text.to_ascii_uppercase().find(&needle.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(db: &str, table: &str) -> TargetName {
        TargetName {
            db: db.into(),
            table: table.into(),
        }
    }

    #[test]
    fn parses_role_grants() {
        assert_eq!(
            parse("GRANT 'root', 'testrole' TO 'root'@'%'"),
            Some(Grant::Roles(vec!["root".into(), "testrole".into()]))
        );
    }

    #[test]
    fn parses_privilege_grants_of_every_scope() {
        use Privilege::*;
        let cases = [
            (
                "GRANT INSERT, SELECT ON TABLE ods.orders TO USER 'u'@'%'",
                vec![Select, Insert],
                Scope::Tables(vec![t("ods", "orders")]),
            ),
            (
                "GRANT SELECT ON TABLE `ods`.`a`, ods.b TO USER 'u'@'%'",
                vec![Select],
                Scope::Tables(vec![t("ods", "a"), t("ods", "b")]),
            ),
            (
                "grant select, alter on all tables in database ods to user 'u'@'%'",
                vec![Select, Alter],
                Scope::AllTablesIn("ods".into()),
            ),
            (
                "GRANT DELETE, DROP, INSERT, SELECT, ALTER, EXPORT, UPDATE ON ALL TABLES IN ALL DATABASES TO ROLE 'r'",
                vec![Select, Insert, Alter],
                Scope::AllTables,
            ),
            (
                "GRANT CREATE TABLE, DROP ON ALL DATABASES TO USER 'u'@'%'",
                vec![],
                Scope::Other,
            ),
        ];
        for (text, mut privileges, scope) in cases {
            privileges.sort();
            let Some(Grant::Privileges {
                privileges: mut got,
                scope: got_scope,
            }) = parse(text)
            else {
                panic!("{text}: not parsed");
            };
            got.sort();
            assert_eq!((got, got_scope), (privileges, scope), "{text}");
        }
    }

    #[test]
    fn evaluates_what_covers_a_table() {
        let grants: Vec<Grant> = [
            "GRANT 'loader' TO 'u'@'%'",
            "GRANT SELECT ON ALL TABLES IN DATABASE ods TO USER 'u'@'%'",
            "GRANT INSERT ON TABLE ods.orders TO USER 'u'@'%'",
            "GRANT ALTER ON TABLE dw.orders TO USER 'u'@'%'",
        ]
        .iter()
        .filter_map(|g| parse(g))
        .collect();
        use Privilege::*;
        assert_eq!(granted(&grants, &t("ods", "orders")), vec![Select, Insert]);
        assert_eq!(granted(&grants, &t("ods", "items")), vec![Select]);
        assert_eq!(granted(&grants, &t("dw", "orders")), vec![Alter]);
        assert_eq!(roles(&grants), vec!["loader".to_string()]);
    }

    #[test]
    fn ignores_what_is_not_a_grant() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("REVOKE SELECT ON TABLE a.b FROM 'u'"), None);
    }
}
