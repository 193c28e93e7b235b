//! The StarRocks side of `prepare`: the tables there are, their `SHOW CREATE TABLE`, and
//! truncating, dropping and creating them.

use mysql::prelude::Queryable;
use mysql::{Conn, Row};

use super::PrepareError;
use crate::config::{TargetConfig, TargetName};
use crate::ddl::sql;
use crate::tls::TargetTls;

/// StarRocks' own databases, never a job's target.
const SYSTEM_DATABASES: &[&str] = &["information_schema", "_statistics_", "sys"];

pub(super) struct Target {
    conn: Conn,
}

impl Target {
    pub(super) fn connect(target: &TargetConfig) -> Result<Target, PrepareError> {
        let password = target.password()?;
        let tls = TargetTls::new(target)?;
        let conn = crate::starrocks::connect(target, password.expose(), &tls).map_err(|e| {
            PrepareError::Connect {
                host: target.host.clone(),
                user: target.user.clone(),
                message: crate::tls::hint(crate::starrocks::message(&e), &tls),
            }
        })?;
        Ok(Target { conn })
    }

    fn run(&mut self, statement: &str) -> Result<(), PrepareError> {
        self.conn
            .query_drop(statement)
            .map_err(|e| PrepareError::Query {
                statement: statement.to_string(),
                message: crate::starrocks::message(&e),
            })
    }

    /// Every table the user can see, with its model (`PRI_KEYS`, `DUP_KEYS`, …), from
    /// `information_schema.tables_config` (starrocks.md §5.6).
    pub(super) fn tables(&mut self) -> Result<Vec<(TargetName, String)>, PrepareError> {
        const SQL: &str =
            "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_MODEL FROM information_schema.tables_config";
        let rows: Vec<(String, String, String)> =
            self.conn.query(SQL).map_err(|e| PrepareError::Query {
                statement: SQL.to_string(),
                message: crate::starrocks::message(&e),
            })?;
        Ok(rows
            .into_iter()
            .filter(|(db, _, _)| !SYSTEM_DATABASES.contains(&db.as_str()))
            .map(|(db, table, model)| (TargetName { db, table }, model))
            .collect())
    }

    /// The table's `SHOW CREATE TABLE` statement (it names the table without its database).
    pub(super) fn show_create(&mut self, table: &TargetName) -> Result<String, PrepareError> {
        let statement = format!("SHOW CREATE TABLE {}", sql::table(table));
        let error = |message: String| PrepareError::Query {
            statement: statement.clone(),
            message,
        };
        let row: Option<Row> = self
            .conn
            .query_first(&statement)
            .map_err(|e| error(crate::starrocks::message(&e)))?;
        row.and_then(|r| r.get_opt::<String, usize>(1).and_then(Result::ok))
            .ok_or_else(|| error("no `Create Table` in the answer".into()))
    }

    pub(super) fn truncate(&mut self, table: &TargetName) -> Result<(), PrepareError> {
        self.run(&format!("TRUNCATE TABLE {}", sql::table(table)))
    }

    /// `DROP TABLE` (without FORCE, so StarRocks keeps it in its recycle bin), then `create` in
    /// the table's database.
    pub(super) fn recreate(
        &mut self,
        table: &TargetName,
        create: &str,
    ) -> Result<(), PrepareError> {
        self.run(&format!("DROP TABLE {}", sql::table(table)))?;
        let created = self
            .run(&format!("USE {}", sql::ident(&table.db)))
            .and_then(|()| self.run(create));
        created.map_err(|e| PrepareError::Recreate {
            table: table.clone(),
            recover: sql::table(table),
            message: e.to_string(),
        })
    }
}
