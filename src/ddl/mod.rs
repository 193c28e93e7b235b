//! Source DDL → StarRocks DDL, without I/O.
//!
//! - [`parse`]: a MySQL DDL statement (a Canal `sql`, a CloudCanal DDL message's `sql`) → the
//!   [`Change`]s it makes to the message's table.
//! - [`translate`]: one change → the StarRocks statements for a target table, given its current
//!   schema ([`Translation::Apply`]), or why nothing is needed ([`Translation::Ignore`]) or
//!   possible ([`Translation::CannotApply`]).
//! - [`is_applied`]: whether a change is already in the target (a DDL replayed after a crash).
//! - [`create_table`]: the `CREATE TABLE` of a Primary Key table for a source table's columns
//!   (from a `CREATE TABLE` statement, a DDL message's schema) and [`create_table_for_rows`]
//!   (from a row message's column types, for `autoCreateTable`).

mod applied;
mod change;
mod clauses;
mod columns;
mod create;
mod operations;
mod parse;
pub mod sql;
mod translate;
pub mod types;

pub use applied::is_applied;
pub use change::{
    CannotApply, Change, ColumnDef, ColumnPosition, Ignored, SourceDefault, TableRef,
};
pub use create::{CreateOptions, create_table, create_table_for_rows};
pub use parse::{SourceName, parse};
pub use translate::{Context, DropTables, StatementKind, TargetStatement, Translation, translate};
pub use types::{Role, TypeError, starrocks_type};

#[cfg(test)]
mod tests;
