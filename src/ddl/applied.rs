//! Whether a change is already in the target: a DDL replayed after a crash (its offset was not
//! committed) must not be applied twice, and StarRocks refuses most changes made twice.

use super::change::Change;
use super::types::{Role, holds, starrocks_type};
use crate::schema::{TargetTable, names_equal_ci};

/// Whether `change` is already made in the target whose current schema is `schema` (`None`:
/// the table does not exist):
/// - ADD COLUMN: the column exists with a type that holds the new one;
/// - DROP COLUMN: the table exists without the column;
/// - MODIFY / CHANGE: the column (by its new name; the old name gone) has a type that holds
///   the new one;
/// - RENAME COLUMN: the new name exists and the old one does not;
/// - CREATE TABLE: the table exists;
/// - DROP TABLE, RENAME TABLE: the table is gone (for RENAME, pass the schema of the old
///   name's target, [`Change::own_target`]);
/// - TRUNCATE: never (truncating again before the replayed rows is what the replay needs);
/// - ignored and refused changes: never (there is nothing to apply).
pub fn is_applied(change: &Change, schema: Option<&TargetTable>) -> bool {
    let Some(table) = schema else {
        return matches!(change, Change::DropTable | Change::RenameTable { .. });
    };
    match change {
        Change::AddColumn { column, .. } => has_type(table, &column.name, &column.source_type),
        Change::DropColumn { name } => table.column(name).is_none(),
        Change::ModifyColumn { column } => has_type(table, &column.name, &column.source_type),
        Change::ChangeColumn { old_name, column } => {
            (names_equal_ci(old_name, &column.name) || table.column(old_name).is_none())
                && has_type(table, &column.name, &column.source_type)
        }
        Change::RenameColumn { old_name, new_name } => {
            let exact = table.columns.iter().any(|c| c.name == *new_name);
            exact && (names_equal_ci(old_name, new_name) || table.column(old_name).is_none())
        }
        Change::CreateTable { .. } => true,
        Change::TruncateTable
        | Change::DropTable
        | Change::RenameTable { .. }
        | Change::Ignore(_)
        | Change::CannotApply(_) => false,
    }
}

/// The column exists and its type holds `source_type`'s StarRocks type.
fn has_type(table: &TargetTable, name: &str, source_type: &str) -> bool {
    let Some(column) = table.column(name) else {
        return false;
    };
    let role = if column.is_key {
        Role::Key
    } else {
        Role::Value
    };
    starrocks_type(source_type, role).is_ok_and(|ty| holds(&column.ty, &ty))
}
