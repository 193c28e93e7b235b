//! What a source DDL statement does to one source table, as [`super::parse`] reads it, and the
//! reasons a change is ignored or cannot be applied.

use std::fmt;

use thiserror::Error;

use super::types::TypeError;
use crate::model::TableSchema;
use crate::schema::StarRocksType;

/// A table as a statement names it; `db` is `None` when the statement does not qualify it (the
/// message's database is meant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    pub db: Option<String>,
    pub table: String,
}

impl TableRef {
    /// `(db, table)`, with `default_db` for an unqualified name.
    pub fn resolve<'a>(&'a self, default_db: &'a str) -> (&'a str, &'a str) {
        (self.db.as_deref().unwrap_or(default_db), &self.table)
    }
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.db {
            Some(db) => write!(f, "{db}.{}", self.table),
            None => f.write_str(&self.table),
        }
    }
}

/// A column's default as the source statement gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceDefault {
    /// A constant, as text (`'0.00'` → `0.00`, `5` → `5`).
    Literal(String),
    /// `DEFAULT NULL`.
    Null,
    /// Anything else (`CURRENT_TIMESTAMP`, `(expr)`, `b'1'`): StarRocks' ADD COLUMN takes only
    /// constants, so these are left out.
    Expression(String),
}

/// A column as a source statement defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: String,
    /// The MySQL type as text (`VARCHAR(20)`, `INT UNSIGNED`), read like `mysqlType`.
    pub source_type: String,
    /// The statement says `NOT NULL` (or `PRIMARY KEY`).
    pub not_null: bool,
    pub default: Option<SourceDefault>,
}

/// Where `ADD COLUMN` puts the column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnPosition {
    First,
    After(String),
}

/// One change a DDL statement makes to the message's source table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `ADD [COLUMN] c <def> [FIRST | AFTER x]` (each column of a multi-column ADD is one change).
    AddColumn {
        column: ColumnDef,
        position: Option<ColumnPosition>,
    },
    /// `DROP [COLUMN] c`.
    DropColumn { name: String },
    /// `MODIFY [COLUMN] c <def>`: a new definition, same name (position changes are not kept:
    /// StarRocks loads by column name).
    ModifyColumn { column: ColumnDef },
    /// `CHANGE [COLUMN] old new <def>`: a rename when the names differ, and a new definition.
    ChangeColumn { old_name: String, column: ColumnDef },
    /// `RENAME COLUMN old TO new`.
    RenameColumn { old_name: String, new_name: String },
    /// `CREATE TABLE`: the columns (types as text) and the PRIMARY KEY.
    CreateTable { schema: TableSchema },
    /// `TRUNCATE [TABLE]`.
    TruncateTable,
    /// `DROP TABLE`.
    DropTable,
    /// `RENAME TABLE from TO to` / `ALTER TABLE from RENAME [TO] to`.
    RenameTable { from: TableRef, to: TableRef },
    /// Nothing to do in StarRocks, for the reason given (the caller logs it at info).
    Ignore(Ignored),
    /// Cannot be applied, for the reason given.
    CannotApply(CannotApply),
}

impl Change {
    /// The target whose schema [`super::is_applied`] needs for this change, when it is not the
    /// message table's: for RENAME TABLE, where the old name routes (`route` is the job's
    /// routing, `source_db` the message's database). `None`: the message table's target.
    pub fn own_target(
        &self,
        source_db: &str,
        route: &dyn Fn(&str, &str) -> crate::config::TargetName,
    ) -> Option<crate::config::TargetName> {
        match self {
            Change::RenameTable { from, .. } => {
                let (db, table) = from.resolve(source_db);
                Some(route(db, table))
            }
            _ => None,
        }
    }
}

/// Why a change needs nothing in StarRocks.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Ignored {
    #[error("{clause}: indexes are not replicated (StarRocks keeps its own)")]
    Index { clause: String },
    #[error("{clause}: constraints are not replicated (StarRocks enforces only its key)")]
    Constraint { clause: String },
    #[error("{clause}: table options (engine, charset, collation, comment, …) are not replicated")]
    TableOption { clause: String },
    #[error("{clause}: the source's partitioning is not replicated (no rows change)")]
    Partitioning { clause: String },
    #[error(
        "{clause}: column `{column}`: defaults, comments, charsets and positions are not replicated (rows carry every value)"
    )]
    ColumnAttribute { column: String, clause: String },
    #[error("{statement}: not a change to a table's rows or columns")]
    NotATableChange { statement: String },
    #[error("{statement} also names {others}: only {table} is this message's table")]
    OtherTables {
        statement: String,
        others: String,
        table: String,
    },
    #[error("column `{column}`: the target's {current} already holds every {new} value")]
    AlreadyHolds {
        column: String,
        current: StarRocksType,
        new: StarRocksType,
    },
    #[error("column `{column}`: the target has no such column")]
    NoSuchColumn { column: String },
    #[error("the target table {target} exists already")]
    TableExists { target: String },
    #[error("the target table {target} does not exist")]
    NoSuchTable { target: String },
    #[error("{from} and {to} load into the same target table")]
    SameTarget { from: String, to: String },
}

/// Why a change cannot be applied to StarRocks. The engine stops (or, with
/// `ddlExceptionSkip`, logs it and goes on).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CannotApply {
    #[error("the statement could not be parsed: {error}")]
    Unparsed { error: String },
    #[error("{clause}: not supported")]
    Unsupported { clause: String },
    #[error(
        "{statement}: not applied; set target.ddlAllowDropTable = true to apply DROP TABLE and RENAME TABLE"
    )]
    NotAllowed { statement: String },
    #[error("{statement} is about {named}, but the message is about {table}")]
    OtherTable {
        statement: String,
        named: String,
        table: String,
    },
    #[error("{clause}: changes rows at the source without row events; the target cannot follow")]
    RowsWithoutEvents { clause: String },
    #[error(
        "DROP DATABASE {db}: not replicated (a target database may hold tables of other sources); drop the target tables by hand"
    )]
    DropDatabase { db: String },
    #[error("the target table {target} does not exist")]
    NoTargetTable { target: String },
    #[error(
        "column `{column}` is a key column of the target; StarRocks cannot {action} a Primary Key table's key column"
    )]
    KeyColumn {
        column: String,
        action: &'static str,
    },
    #[error("column `{column}`: StarRocks cannot change {from} to {to}")]
    TypeChange {
        column: String,
        from: StarRocksType,
        to: StarRocksType,
    },
    #[error("column `{column}`: {error}")]
    Type { column: String, error: TypeError },
    #[error("column `{column}`: the target has no such column")]
    MissingColumn { column: String },
    /// A name the change would give a table or column that starpipe could not load into
    /// afterwards (`crate::names`).
    #[error("{0}")]
    BadName(crate::names::BadName),
    #[error("column `{column}` exists in the target as {current}, which does not hold {new}")]
    ColumnExists {
        column: String,
        current: StarRocksType,
        new: StarRocksType,
    },
    #[error(
        "the source table has no PRIMARY KEY; name the key columns with `keys = [...]` in its [[tables]] entry"
    )]
    NoPrimaryKey,
    #[error("key column `{column}` is not a column of the table")]
    KeyNotAColumn { column: String },
    #[error("the table has no columns")]
    NoColumns,
    #[error("the message carries no column types (mysqlType / dbValType) to create the table from")]
    NoColumnTypes,
    #[error("{from} → {to}: StarRocks renames a table only within its database")]
    CrossDatabaseRename { from: String, to: String },
}
