//! The SQL side of StarRocks (MySQL protocol, `mysql` crate): reading target table schemas and
//! checking that they are Primary Key tables (starrocks.md §5.6).

use mysql::prelude::Queryable;
use mysql::{OptsBuilder, Pool, Row};
use parking_lot::Mutex;

use super::tables::SchemaSource;
use crate::config::{TargetConfig, TargetName};
use crate::names::{self, BadName, ident, literal};
use crate::schema::{StarRocksType, TableModel, TargetColumn, TargetTable};
use crate::tls::TargetTls;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CatalogError {
    #[error("cannot reach StarRocks at {host}: {source}")]
    Connect { host: String, source: mysql::Error },
    #[error("reading the schema of {table}: {source}")]
    Query { table: String, source: mysql::Error },
    #[error("target table {0} does not exist; create it as a Primary Key table first")]
    Missing(String),
    #[error(
        "target table {table} is a {model:?} table; starpipe writes only to Primary Key tables (upserts and deletes by key)"
    )]
    NotPrimaryKey { table: String, model: TableModel },
    #[error("target table {table}: {reason}")]
    Schema { table: String, reason: String },
    /// A name StarRocks or Stream Load cannot take; never sent to StarRocks.
    #[error("target table {table}: {source}")]
    Name { table: String, source: BadName },
}

impl CatalogError {
    /// The query port did not answer (connection or query failed): StarRocks is unreachable or
    /// restarting, which says nothing about the message being routed.
    pub(crate) fn is_outage(&self) -> bool {
        matches!(
            self,
            CatalogError::Connect { .. } | CatalogError::Query { .. }
        )
    }
}

/// Query-port connections kept open: one serves the engine's lookups between bursts; more open
/// on demand (the `mysql` crate's default keeps ten, each an FE connection of the job's user).
const POOL_MIN: usize = 1;
/// The `mysql` crate's default.
const POOL_MAX: usize = 100;

pub(crate) struct Catalog {
    host: String,
    pool: Mutex<Option<Pool>>,
    opts: OptsBuilder,
}

impl Catalog {
    /// A client of the query port `target.host`, over TLS with `useSsl`; `soTimeoutSec` bounds
    /// connecting and every socket read and write.
    pub(crate) fn new(target: &TargetConfig, password: &str, tls: &TargetTls) -> Self {
        Catalog {
            host: target.host.clone(),
            pool: Mutex::new(None),
            opts: Catalog::query_port_opts(target, password, tls).pool_opts(
                mysql::PoolOpts::default()
                    .with_constraints(mysql::PoolConstraints::new_const::<POOL_MIN, POOL_MAX>()),
            ),
        }
    }

    /// The `mysql` crate's options for the query port: never a Unix socket (StarRocks rejects
    /// the `@@socket` probe), every wait bounded by `soTimeoutSec`, TLS with `useSsl`.
    pub(crate) fn query_port_opts(
        target: &TargetConfig,
        password: &str,
        tls: &TargetTls,
    ) -> OptsBuilder {
        let (host, port) = match target.host.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().unwrap_or(9030)),
            None => (target.host.as_str(), 9030),
        };
        let timeout = Some(target.so_timeout());
        OptsBuilder::new()
            .ip_or_hostname(Some(host.trim_matches(['[', ']'])))
            .tcp_port(port)
            .user(Some(&target.user))
            .pass(Some(password))
            .prefer_socket(false)
            .tcp_connect_timeout(timeout)
            .read_timeout(timeout)
            .write_timeout(timeout)
            .ssl_opts(tls.mysql())
    }

    /// A connection of the pool (created on first use).
    pub(crate) fn conn(&self) -> Result<mysql::PooledConn, CatalogError> {
        let err = |source| CatalogError::Connect {
            host: self.host.clone(),
            source,
        };
        let pool = {
            let mut guard = self.pool.lock();
            match &*guard {
                Some(p) => p.clone(),
                None => {
                    let p = Pool::new(self.opts.clone()).map_err(err)?;
                    *guard = Some(p.clone());
                    p
                }
            }
        };
        pool.get_conn().map_err(err)
    }

    /// Reads `db.table` and checks it is a Primary Key table whose names Stream Load can take.
    pub(crate) fn table(&self, db: &str, table: &str) -> Result<TargetTable, CatalogError> {
        let name = format!("{db}.{table}");
        let bad_name = |source| CatalogError::Name {
            table: name.clone(),
            source,
        };
        names::check_database(db).map_err(bad_name)?;
        names::check_table(table).map_err(bad_name)?;
        let q = |source| CatalogError::Query {
            table: name.clone(),
            source,
        };
        let mut conn = self.conn()?;
        let model: Option<String> = conn
            .query_first(format!(
                "SELECT TABLE_MODEL FROM information_schema.tables_config WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
                literal(db),
                literal(table)
            ))
            .map_err(q)?;
        let Some(model) = model else {
            return Err(CatalogError::Missing(name));
        };
        let model = TableModel::parse(&model).map_err(|e| CatalogError::Schema {
            table: name.clone(),
            reason: e.to_string(),
        })?;
        if model != TableModel::PrimaryKeys {
            return Err(CatalogError::NotPrimaryKey { table: name, model });
        }
        let rows: Vec<Row> = conn
            .query(format!("DESC {}", names::qualified(db, table)))
            .map_err(q)?;
        let mut columns = Vec::with_capacity(rows.len());
        for row in rows {
            let get = |i: usize| -> String {
                row.get_opt::<String, usize>(i)
                    .and_then(Result::ok)
                    .unwrap_or_default()
            };
            let (field, ty, null, key, default) = (get(0), get(1), get(2), get(3), get(4));
            names::check_column(&field).map_err(bad_name)?;
            let ty = StarRocksType::parse(&ty).map_err(|e| CatalogError::Schema {
                table: name.clone(),
                reason: format!("column {field}: {e}"),
            })?;
            let mut col = TargetColumn::new(
                field,
                ty,
                null.eq_ignore_ascii_case("YES"),
                key.eq_ignore_ascii_case("true"),
            );
            col.has_default = col.nullable || !default.is_empty();
            col.default = (!default.is_empty()).then_some(default);
            columns.push(col);
        }
        TargetTable::new(db, table, columns, model).map_err(|e| CatalogError::Schema {
            table: name,
            reason: e.to_string(),
        })
    }
}

impl Catalog {
    /// The HTTP address (`ip:HttpPort`) of every alive FE, the leader first (`SHOW FRONTENDS`):
    /// where load states are asked when `httpHost` is a BE.
    pub(crate) fn frontends(&self) -> Result<Vec<String>, CatalogError> {
        let q = |source| CatalogError::Query {
            table: "SHOW FRONTENDS".into(),
            source,
        };
        let mut conn = self.conn()?;
        let result = conn.query_iter("SHOW FRONTENDS").map_err(q)?;
        let names: Vec<String> = result
            .columns()
            .as_ref()
            .iter()
            .map(|c| c.name_str().to_string())
            .collect();
        let at = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
        let (Some(ip), Some(port)) = (at("IP"), at("HttpPort")) else {
            return Ok(Vec::new());
        };
        let (alive, role) = (at("Alive"), at("Role"));
        let mut fes: Vec<(bool, String)> = Vec::new();
        for row in result {
            let row = row.map_err(q)?;
            let text = |i: usize| row.get_opt::<String, usize>(i).and_then(Result::ok);
            if alive
                .and_then(text)
                .is_some_and(|a| !a.eq_ignore_ascii_case("true"))
            {
                continue;
            }
            let leader = role
                .and_then(text)
                .is_some_and(|r| r.eq_ignore_ascii_case("LEADER"));
            if let (Some(ip), Some(port)) = (text(ip), text(port)) {
                fes.push((!leader, format!("{ip}:{port}")));
            }
        }
        fes.sort();
        Ok(fes.into_iter().map(|(_, addr)| addr).collect())
    }
}

impl SchemaSource for Catalog {
    fn read(&self, target: &TargetName) -> Result<TargetTable, CatalogError> {
        self.table(&target.db, &target.table)
    }
}

/// One catalog serves the schema reads and the DDL of a run.
impl SchemaSource for std::sync::Arc<Catalog> {
    fn read(&self, target: &TargetName) -> Result<TargetTable, CatalogError> {
        self.table(&target.db, &target.table)
    }
}

/// A schema-change job of a table as `SHOW ALTER TABLE COLUMN` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AlterJob {
    pub id: i64,
    /// `PENDING`, `WAITING_TXN`, `RUNNING`, `FINISHED`, `CANCELLED`.
    pub state: String,
    pub msg: String,
}

impl AlterJob {
    pub(crate) fn is_done(&self) -> bool {
        self.is_finished() || self.is_cancelled()
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.state.eq_ignore_ascii_case("FINISHED")
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.state.eq_ignore_ascii_case("CANCELLED")
    }
}

/// Why a statement did not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExecError {
    /// StarRocks answered with an error.
    #[error("{0}")]
    Refused(String),
    /// No answer (connection refused or lost, timeout): the statement may or may not have run.
    #[error("{0}")]
    Outage(CatalogError),
}

/// Runs DDL on the target and reads its schema-change jobs (StarRocks' catalog in production).
pub(crate) trait TargetDdl: Send + Sync {
    fn execute(&self, sql: &str) -> Result<(), ExecError>;
    /// The schema-change jobs of `target`, oldest first; none when StarRocks refuses to list
    /// them (e.g. the database does not exist yet). An error means no answer.
    fn alter_jobs(&self, target: &TargetName) -> Result<Vec<AlterJob>, CatalogError>;
}

impl TargetDdl for Catalog {
    fn execute(&self, sql: &str) -> Result<(), ExecError> {
        let mut conn = self.conn().map_err(ExecError::Outage)?;
        conn.query_drop(sql).map_err(|e| match e {
            mysql::Error::MySqlError(e) => ExecError::Refused(e.message),
            source => ExecError::Outage(CatalogError::Query {
                table: sql.to_string(),
                source,
            }),
        })
    }

    fn alter_jobs(&self, target: &TargetName) -> Result<Vec<AlterJob>, CatalogError> {
        let q = |source| CatalogError::Query {
            table: target.to_string(),
            source,
        };
        let mut conn = self.conn()?;
        let sql = format!(
            "SHOW ALTER TABLE COLUMN FROM {} WHERE TableName = {}",
            ident(&target.db),
            literal(&target.table)
        );
        let result = match conn.query_iter(sql) {
            Ok(result) => result,
            Err(mysql::Error::MySqlError(e)) => {
                tracing::debug!(table = %target, "no schema-change jobs listed: {}", e.message);
                return Ok(Vec::new());
            }
            Err(source) => return Err(q(source)),
        };
        let names: Vec<String> = (result.columns().as_ref().iter())
            .map(|c| c.name_str().to_string())
            .collect();
        let at = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
        let (id, state, msg) = (at("JobId"), at("State"), at("Msg"));
        let mut jobs = Vec::new();
        for row in result {
            let row = row.map_err(q)?;
            let text = |i: Option<usize>| {
                i.and_then(|i| row.get_opt::<String, usize>(i))
                    .and_then(Result::ok)
                    .unwrap_or_default()
            };
            jobs.push(AlterJob {
                id: text(id).parse().unwrap_or(0),
                state: text(state),
                msg: text(msg),
            });
        }
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }
}
