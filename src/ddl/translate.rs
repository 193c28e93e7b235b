//! One [`Change`] → the StarRocks statements that make it on a target table.
//!
//! Column types follow [`super::types`]. A type change is made only when the target's type
//! does not already hold every value of the new one (a source narrowing needs nothing) and
//! StarRocks' schema change allows it; nullability and the default are restated as they are
//! (StarRocks refuses to change either in MODIFY COLUMN). Positions: StarRocks keeps a Primary
//! Key table's key columns first, so `FIRST` and `AFTER <key column>` become `AFTER <last key
//! column>`; `AFTER` a column the target lacks is dropped.

use super::change::{CannotApply, Change, ColumnDef, ColumnPosition, Ignored, SourceDefault};
use super::create::{CreateOptions, create_table};
use super::sql;
use super::types::{Role, holds, schema_change_allowed, starrocks_type};
use crate::config::TargetName;
use crate::decode::TypeParts;
use crate::schema::{StarRocksType, TargetColumn, TargetTable, names_equal_ci};

/// Whether `DROP TABLE` and `RENAME TABLE` are applied (`ddlAllowDropTable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropTables {
    Refuse,
    Apply,
}

/// What a translation needs besides the change.
pub struct Context<'a> {
    /// The message's database: the database of table names the statement does not qualify.
    pub source_db: &'a str,
    /// Where the message's table loads.
    pub target: &'a TargetName,
    /// The target's current schema; `None` when it does not exist.
    pub schema: Option<&'a TargetTable>,
    pub drop_tables: DropTables,
    /// For `CREATE TABLE`.
    pub create: &'a CreateOptions,
    /// Source `(db, table)` → target, the job's routing (`Config::route`), for `RENAME TABLE`.
    pub route: &'a dyn Fn(&str, &str) -> TargetName,
}

/// How the engine runs a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// Submits a schema-change job (ADD / DROP / MODIFY COLUMN): wait for it in `SHOW ALTER
    /// TABLE COLUMN` before the next statement or load (one job per table at a time).
    SchemaChange,
    /// Done when it returns (CREATE, TRUNCATE, DROP, RENAME, RENAME COLUMN).
    Immediate,
}

/// One StarRocks statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStatement {
    pub sql: String,
    pub kind: StatementKind,
}

impl TargetStatement {
    pub fn new(sql: String, kind: StatementKind) -> Self {
        TargetStatement { sql, kind }
    }
}

/// What a change means for the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Translation {
    /// Run these, in order.
    Apply(Vec<TargetStatement>),
    /// Nothing to do (log at info).
    Ignore(Ignored),
    /// Not possible (stop, or log and go on with `ddlExceptionSkip`).
    CannotApply(CannotApply),
}

/// The StarRocks statements for `change` on `ctx.target`.
pub fn translate(change: &Change, ctx: &Context<'_>) -> Translation {
    if let Err(bad) = new_name_ok(change) {
        return Translation::CannotApply(CannotApply::BadName(bad));
    }
    let result = match change {
        Change::Ignore(i) => Err(Outcome::Ignore(i.clone())),
        Change::CannotApply(c) => Err(Outcome::CannotApply(c.clone())),
        Change::CreateTable { .. }
        | Change::TruncateTable
        | Change::DropTable
        | Change::RenameTable { .. } => table_change(change, ctx),
        _ => match ctx.schema {
            Some(table) => column_change(change, ctx, table),
            None => Err(Outcome::CannotApply(CannotApply::NoTargetTable {
                target: ctx.target.to_string(),
            })),
        },
    };
    match result {
        Ok(statements) => Translation::Apply(statements),
        Err(Outcome::Ignore(i)) => Translation::Ignore(i),
        Err(Outcome::CannotApply(c)) => Translation::CannotApply(c),
    }
}

/// A name the change gives a column or table must be one starpipe can load into afterwards
/// (CREATE TABLE's names are checked where the statement is made, `create.rs`).
fn new_name_ok(change: &Change) -> Result<(), crate::names::BadName> {
    match change {
        Change::AddColumn { column, .. } | Change::ChangeColumn { column, .. } => {
            crate::names::check_column(&column.name)
        }
        Change::RenameColumn { new_name, .. } => crate::names::check_column(new_name),
        Change::RenameTable { to, .. } => crate::names::check_table(&to.table),
        _ => Ok(()),
    }
}

fn column_change(change: &Change, ctx: &Context<'_>, table: &TargetTable) -> Statements {
    match change {
        Change::AddColumn { column, position } => add(ctx, table, column, position.as_ref()),
        Change::DropColumn { name } => drop_column(ctx, table, name),
        Change::ModifyColumn { column } => modify(ctx, table, &column.name, column),
        Change::ChangeColumn { old_name, column } => change_column(ctx, table, old_name, column),
        Change::RenameColumn { old_name, new_name } => {
            rename_column(ctx, table, old_name, new_name)
        }
        _ => table_change(change, ctx),
    }
}

fn table_change(change: &Change, ctx: &Context<'_>) -> Statements {
    match change {
        Change::CreateTable { schema } => match ctx.schema {
            Some(_) => Err(Outcome::Ignore(Ignored::TableExists {
                target: ctx.target.to_string(),
            })),
            None => create_table(ctx.target, schema, ctx.create).map_err(Outcome::from),
        },
        Change::TruncateTable => {
            existing(ctx, format!("TRUNCATE TABLE {}", sql::table(ctx.target)))
        }
        Change::DropTable => allowed(ctx, "DROP TABLE")
            .and_then(|()| existing(ctx, format!("DROP TABLE {}", sql::table(ctx.target)))),
        Change::RenameTable { from, to } => allowed(ctx, "RENAME TABLE").and_then(|()| {
            let (db, t) = from.resolve(ctx.source_db);
            let old = (ctx.route)(db, t);
            let (db, t) = to.resolve(ctx.source_db);
            rename_table(&old, &(ctx.route)(db, t))
        }),
        _ => Err(Outcome::CannotApply(CannotApply::Unsupported {
            clause: format!("{change:?}"),
        })),
    }
}

/// The two ways a translation ends without statements, for `?` in the helpers.
enum Outcome {
    Ignore(Ignored),
    CannotApply(CannotApply),
}

impl From<CannotApply> for Outcome {
    fn from(c: CannotApply) -> Self {
        Outcome::CannotApply(c)
    }
}

type Statements = Result<Vec<TargetStatement>, Outcome>;

fn alter(ctx: &Context<'_>, clause: String, kind: StatementKind) -> Vec<TargetStatement> {
    vec![TargetStatement::new(
        format!("ALTER TABLE {} {clause}", sql::table(ctx.target)),
        kind,
    )]
}

fn allowed(ctx: &Context<'_>, statement: &str) -> Result<(), Outcome> {
    match ctx.drop_tables {
        DropTables::Apply => Ok(()),
        DropTables::Refuse => Err(Outcome::CannotApply(CannotApply::NotAllowed {
            statement: statement.to_string(),
        })),
    }
}

/// `sql` on the target, or nothing when the target does not exist.
fn existing(ctx: &Context<'_>, sql: String) -> Statements {
    match ctx.schema {
        Some(_) => Ok(vec![TargetStatement::new(sql, StatementKind::Immediate)]),
        None => Err(Outcome::Ignore(Ignored::NoSuchTable {
            target: ctx.target.to_string(),
        })),
    }
}

fn rename_table(old: &TargetName, new: &TargetName) -> Statements {
    if old == new {
        return Err(Outcome::Ignore(Ignored::SameTarget {
            from: old.to_string(),
            to: new.to_string(),
        }));
    }
    if old.db != new.db {
        return Err(Outcome::CannotApply(CannotApply::CrossDatabaseRename {
            from: old.to_string(),
            to: new.to_string(),
        }));
    }
    Ok(vec![TargetStatement::new(
        format!(
            "ALTER TABLE {} RENAME {}",
            sql::table(old),
            sql::ident(&new.table)
        ),
        StatementKind::Immediate,
    )])
}

fn new_type(column: &str, source_type: &str, role: Role) -> Result<StarRocksType, Outcome> {
    starrocks_type(source_type, role).map_err(|error| {
        Outcome::CannotApply(CannotApply::Type {
            column: column.to_string(),
            error,
        })
    })
}

fn add(
    ctx: &Context<'_>,
    table: &TargetTable,
    column: &ColumnDef,
    position: Option<&ColumnPosition>,
) -> Statements {
    let ty = new_type(&column.name, &column.source_type, Role::Value)?;
    if let Some(current) = table.column(&column.name) {
        return Err(if holds(&current.ty, &ty) {
            Outcome::Ignore(Ignored::AlreadyHolds {
                column: current.name.clone(),
                current: current.ty.clone(),
                new: ty,
            })
        } else {
            Outcome::CannotApply(CannotApply::ColumnExists {
                column: current.name.clone(),
                current: current.ty.clone(),
                new: ty,
            })
        });
    }
    let mut clause = format!("ADD COLUMN {} {ty} NULL", sql::ident(&column.name));
    if let Some(default) = add_default(column, &ty) {
        clause.push_str(&format!(" DEFAULT {}", sql::string(&default)));
    }
    if let Some(p) = legal_position(table, position) {
        clause.push(' ');
        clause.push_str(&p);
    }
    Ok(alter(ctx, clause, StatementKind::SchemaChange))
}

/// The default the new column gets, so rows that exist before it have the value MySQL gave
/// them: the statement's constant, or for `NOT NULL` without one MySQL's implicit default (0,
/// the empty string, an ENUM's first label). Dates have none StarRocks accepts (MySQL's is the
/// zero date), binary and JSON defaults are not carried.
fn add_default(column: &ColumnDef, ty: &StarRocksType) -> Option<String> {
    use StarRocksType as T;
    match (&column.default, ty) {
        (_, T::VarBinary(_) | T::Json | T::Other(_)) => None,
        (Some(SourceDefault::Literal(v)), T::Date | T::DateTime) if is_zero_date(v) => None,
        (Some(SourceDefault::Literal(v)), _) => Some(v.clone()),
        (Some(_), _) => None,
        (None, _) if !column.not_null => None,
        (None, T::Char(_) | T::Varchar(_)) => {
            let parts = TypeParts::of(&column.source_type);
            match parts.name.to_ascii_lowercase().as_str() {
                "enum" => parts.labels.and_then(|l| l.first().map(|f| f.to_string())),
                "time" => Some("00:00:00".into()),
                _ => Some(String::new()),
            }
        }
        (None, T::Date | T::DateTime) => None,
        (None, _) => Some("0".into()),
    }
}

fn is_zero_date(v: &str) -> bool {
    v.starts_with("0000") || v.get(5..7) == Some("00") || v.get(8..10) == Some("00")
}

/// `FIRST` / `AFTER x` where StarRocks allows it: never before or between key columns.
fn legal_position(table: &TargetTable, position: Option<&ColumnPosition>) -> Option<String> {
    let last_key = table.key_columns().last().map(|c| c.name.as_str());
    let after = |name: &str| format!("AFTER {}", sql::ident(name));
    match position? {
        ColumnPosition::First => Some(last_key.map_or_else(|| "FIRST".to_string(), after)),
        ColumnPosition::After(x) => {
            let column = table.column(x)?;
            match (column.is_key, last_key) {
                (true, Some(k)) => Some(after(k)),
                _ => Some(after(&column.name)),
            }
        }
    }
}

fn drop_column(ctx: &Context<'_>, table: &TargetTable, name: &str) -> Statements {
    let Some(column) = table.column(name) else {
        return Err(Outcome::Ignore(Ignored::NoSuchColumn {
            column: name.to_string(),
        }));
    };
    if column.is_key {
        return Err(Outcome::CannotApply(CannotApply::KeyColumn {
            column: column.name.clone(),
            action: "drop",
        }));
    }
    let clause = format!("DROP COLUMN {}", sql::ident(&column.name));
    Ok(alter(ctx, clause, StatementKind::SchemaChange))
}

/// A new type for the target's column `name` (which keeps its nullability and default).
fn modify(ctx: &Context<'_>, table: &TargetTable, name: &str, column: &ColumnDef) -> Statements {
    let current = table
        .column(name)
        .ok_or_else(|| CannotApply::MissingColumn {
            column: name.to_string(),
        })?;
    let role = if current.is_key {
        Role::Key
    } else {
        Role::Value
    };
    let ty = new_type(name, &column.source_type, role)?;
    if holds(&current.ty, &ty) {
        return Err(Outcome::Ignore(Ignored::AlreadyHolds {
            column: current.name.clone(),
            current: current.ty.clone(),
            new: ty,
        }));
    }
    if current.is_key {
        return Err(Outcome::CannotApply(CannotApply::KeyColumn {
            column: current.name.clone(),
            action: "change the type of",
        }));
    }
    if !schema_change_allowed(&current.ty, &ty) {
        return Err(Outcome::CannotApply(CannotApply::TypeChange {
            column: current.name.clone(),
            from: current.ty.clone(),
            to: ty,
        }));
    }
    Ok(alter(
        ctx,
        modify_clause(current, &ty),
        StatementKind::SchemaChange,
    ))
}

fn modify_clause(current: &TargetColumn, ty: &StarRocksType) -> String {
    let null = if current.nullable { "NULL" } else { "NOT NULL" };
    let mut clause = format!("MODIFY COLUMN {} {ty} {null}", sql::ident(&current.name));
    match current.default.as_deref() {
        Some(d) if d.eq_ignore_ascii_case("CURRENT_TIMESTAMP") => {
            clause.push_str(" DEFAULT CURRENT_TIMESTAMP")
        }
        Some(d) => clause.push_str(&format!(" DEFAULT {}", sql::string(d))),
        None => {}
    }
    clause
}

/// `CHANGE old new <def>`: RENAME COLUMN when the names differ, then the type change if one is
/// needed.
fn change_column(
    ctx: &Context<'_>,
    table: &TargetTable,
    old: &str,
    column: &ColumnDef,
) -> Statements {
    let new = &column.name;
    if names_equal_ci(old, new) || table.column(old).is_none() && table.column(new).is_some() {
        // Same name, or renamed already (a replay): only the definition is left.
        return modify(ctx, table, new, column);
    }
    let current = table
        .column(old)
        .ok_or_else(|| CannotApply::MissingColumn {
            column: old.to_string(),
        })?;
    let mut renamed = table.clone();
    renamed
        .columns
        .iter_mut()
        .filter(|c| c.name == current.name)
        .for_each(|c| c.name = new.clone());
    let mut statements = rename_column(ctx, table, old, new)?;
    match modify(ctx, &renamed, new, column) {
        Ok(more) => statements.extend(more),
        Err(Outcome::Ignore(_)) => {}
        Err(e) => return Err(e),
    }
    Ok(statements)
}

fn rename_column(ctx: &Context<'_>, table: &TargetTable, old: &str, new: &str) -> Statements {
    match (table.column(old), table.column(new)) {
        (Some(c), _) => {
            let clause = format!(
                "RENAME COLUMN {} TO {}",
                sql::ident(&c.name),
                sql::ident(new)
            );
            Ok(alter(ctx, clause, StatementKind::Immediate))
        }
        (None, Some(_)) => Err(Outcome::Ignore(Ignored::NoSuchColumn {
            column: old.to_string(),
        })),
        (None, None) => Err(Outcome::CannotApply(CannotApply::MissingColumn {
            column: old.to_string(),
        })),
    }
}
