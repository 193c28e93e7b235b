//! The StarRocks side: the query port (`target.host`: version, privileges, target tables) and
//! the Stream Load path (`target.httpHost`).

use mysql::prelude::Queryable;
use mysql::{Conn, Row};

use super::grants::{self, ALL_PRIVILEGE_ROLES, Grant};
use super::{
    CheckError, CheckOptions, CheckResult, MissingTargets, Privilege, System, stream_load,
};
use crate::config::{Config, TargetConfig, TargetName};
use crate::names::{self, ident, literal};
use crate::schema::TableModel;
use crate::starrocks::message as mysql_message;
use crate::tls::TargetTls;

fn result(what: String, outcome: Result<String, CheckError>) -> CheckResult {
    CheckResult::new(System::StarRocks, what, outcome)
}

/// The query port first; when it cannot be used, the table and privilege checks (which go
/// through it) are left out. The Stream Load check goes its own way.
pub(super) fn checks(config: &Config, options: &CheckOptions) -> Vec<CheckResult> {
    let target = &config.target;
    let password = match target.password() {
        Ok(p) => p,
        Err(e) => return vec![result("starrocks credentials".into(), Err(e.into()))],
    };
    let tls = match TargetTls::new(target) {
        Ok(t) => t,
        Err(e) => return vec![result("starrocks sslCaFile".into(), Err(e.into()))],
    };
    let port = format!("starrocks query port {}", target.host);
    let mut out = Vec::new();
    match connect(target, password.expose(), &tls) {
        Err(e) => out.push(result(port, Err(e))),
        Ok(mut conn) => {
            out.push(result(port, version(&mut conn)));
            let tables = config.explicit_targets();
            for table in &tables {
                let found = match primary_key_table(&mut conn, table, &target.user) {
                    Err(CheckError::TableMissing { .. })
                        if options.missing_targets == MissingTargets::Created =>
                    {
                        Ok("absent; autoCreateTable creates it from its first row message".into())
                    }
                    found => found,
                };
                out.push(result(format!("starrocks table {table}"), found));
            }
            out.extend(privileges(&mut conn, &tables, options, &target.user));
        }
    }
    out.push(result(
        format!("starrocks stream load {}", target.http_host),
        stream_load::preflight(target, password.expose(), &tls),
    ));
    out
}

/// A connection made as the engine's (`soTimeoutSec`, TLS with `useSsl`, never a Unix socket:
/// StarRocks rejects the `@@socket` probe).
fn connect(target: &TargetConfig, password: &str, tls: &TargetTls) -> Result<Conn, CheckError> {
    crate::starrocks::connect(target, password, tls).map_err(|e| match e {
        // SQLSTATE 28000: invalid authorization (StarRocks' 1045 "Access denied …").
        mysql::Error::MySqlError(e) if e.state == "28000" => {
            CheckError::Auth(format!("user {}: {}", target.user, e.message))
        }
        e => CheckError::Connect {
            user: target.user.clone(),
            message: crate::tls::hint(mysql_message(&e), tls),
        },
    })
}

fn query_error(statement: &str) -> impl FnOnce(mysql::Error) -> CheckError + '_ {
    move |e| CheckError::Query {
        statement: statement.to_string(),
        message: mysql_message(&e),
    }
}

/// StarRocks' own version (`current_version()`; `version()` is the MySQL-compatible one).
fn version(conn: &mut Conn) -> Result<String, CheckError> {
    const SQL: &str = "SELECT current_version()";
    let v: Option<String> = conn.query_first(SQL).map_err(query_error(SQL))?;
    Ok(format!("StarRocks {}", v.unwrap_or_default()))
}

/// `information_schema.tables_config` lists the table with its model (starrocks.md §5.6). It
/// only lists tables the user has some privilege on, hence the wording of the failure.
fn primary_key_table(
    conn: &mut Conn,
    table: &TargetName,
    user: &str,
) -> Result<String, CheckError> {
    names::check_database(&table.db)?;
    names::check_table(&table.table)?;
    let sql = format!(
        "SELECT TABLE_MODEL FROM information_schema.tables_config \
         WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
        literal(&table.db),
        literal(&table.table)
    );
    let model: Option<String> = conn.query_first(&sql).map_err(query_error(&sql))?;
    let model = model.ok_or_else(|| CheckError::TableMissing { user: user.into() })?;
    match TableModel::parse(&model) {
        Ok(TableModel::PrimaryKeys) => Ok("Primary Key table".into()),
        _ => Err(CheckError::NotPrimaryKey { model }),
    }
}

/// One result per target table: the required privileges are granted to the user, directly,
/// through `root` / `db_admin`, or through roles whose grants the user can read. What cannot
/// be read is reported as not verified, not as missing: the loads will tell.
fn privileges(
    conn: &mut Conn,
    tables: &[TargetName],
    options: &CheckOptions,
    user: &str,
) -> Vec<CheckResult> {
    let what = |t: &TargetName| format!("starrocks privileges on {t}");
    let grants = match read_grants(conn, "SHOW GRANTS") {
        Ok(Some(g)) => g,
        Ok(None) => {
            let note = "not verified: SHOW GRANTS has no `Grants` column (StarRocks before 3.0)";
            return tables
                .iter()
                .map(|t| result(what(t), Ok(note.into())))
                .collect();
        }
        Err(e) => return vec![result("starrocks privileges".into(), Err(e))],
    };
    let (grants, unreadable) = with_role_grants(conn, grants);
    let all_roles: Vec<String> = grants::roles(&grants)
        .into_iter()
        .filter(|r| ALL_PRIVILEGE_ROLES.contains(&r.as_str()))
        .collect();
    tables
        .iter()
        .map(|t| {
            let outcome = if let Some(role) = all_roles.first() {
                Ok(format!("{} (role {role})", names(&options.privileges)))
            } else {
                judge(&grants::granted(&grants, t), options, &unreadable, user)
            };
            result(what(t), outcome)
        })
        .collect()
}

fn judge(
    granted: &[Privilege],
    options: &CheckOptions,
    unreadable: &[String],
    user: &str,
) -> Result<String, CheckError> {
    let missing: Vec<Privilege> = options
        .privileges
        .iter()
        .copied()
        .filter(|p| !granted.contains(p))
        .collect();
    if missing.is_empty() {
        return Ok(names(&options.privileges));
    }
    if !unreadable.is_empty() {
        return Ok(format!(
            "not verified: {} may come from role(s) {} whose grants are not readable",
            names(&missing),
            unreadable.join(", ")
        ));
    }
    Err(CheckError::PrivilegesMissing {
        user: user.into(),
        missing,
        granted: granted.to_vec(),
    })
}

fn names(privileges: &[Privilege]) -> String {
    let names: Vec<String> = privileges.iter().map(ToString::to_string).collect();
    names.join(", ")
}

/// `grants` with the grants of every role they give (and the roles those give), and the
/// roles whose grants could not be read.
fn with_role_grants(conn: &mut Conn, mut grants: Vec<Grant>) -> (Vec<Grant>, Vec<String>) {
    let mut seen: Vec<String> = Vec::new();
    let mut unreadable = Vec::new();
    while let Some(role) = grants::roles(&grants)
        .into_iter()
        .find(|r| !seen.contains(r) && !ALL_PRIVILEGE_ROLES.contains(&r.as_str()))
    {
        let sql = format!("SHOW GRANTS FOR ROLE {}", ident(&role));
        match read_grants(conn, &sql) {
            Ok(Some(more)) => grants.extend(more),
            _ => unreadable.push(role.clone()),
        }
        seen.push(role);
    }
    (grants, unreadable)
}

/// The grants of one `SHOW GRANTS` answer, in the internal catalog; `None` when the answer has
/// no `Grants` column (the pre-3.0 privilege system).
fn read_grants(conn: &mut Conn, sql: &str) -> Result<Option<Vec<Grant>>, CheckError> {
    let rows: Vec<Row> = conn.query(sql).map_err(query_error(sql))?;
    let Some(first) = rows.first() else {
        return Ok(Some(Vec::new()));
    };
    let column = |name: &str| {
        first
            .columns_ref()
            .iter()
            .position(|c| c.name_str().eq_ignore_ascii_case(name))
    };
    let Some(grants_at) = column("Grants") else {
        return Ok(None);
    };
    let catalog_at = column("Catalog");
    let cell = |row: &Row, i: usize| row.get_opt::<Option<String>, usize>(i)?.ok().flatten();
    Ok(Some(
        rows.iter()
            .filter(|row| {
                // External catalogs' grants say nothing about StarRocks' own tables.
                catalog_at.and_then(|i| cell(row, i)).is_none_or(|c| {
                    matches!(c.as_str(), "default_catalog" | "default" | "internal")
                })
            })
            .filter_map(|row| grants::parse(&cell(row, grants_at)?))
            .collect(),
    ))
}
