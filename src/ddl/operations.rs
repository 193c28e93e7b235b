//! One `ALTER TABLE` operation as sqlparser reads it → [`Change`]s.

use sqlparser::ast::{
    AlterTableOperation as Op, MySQLColumnPosition, ObjectName, RenameTableNameKind,
    TableConstraint,
};

use super::change::{CannotApply, Change, ColumnPosition, Ignored};
use super::columns::{column_def, has_primary_key, typed_column};
use super::parse::table_ref;

/// The changes of `op` on table `name`.
pub(super) fn operation(op: &Op, name: &ObjectName) -> Vec<Change> {
    let clause = || op.to_string();
    let change = match op {
        Op::AddColumn {
            column_def: def,
            column_position,
            ..
        } => {
            if has_primary_key(&def.options) {
                return vec![key_change(clause())];
            }
            Change::AddColumn {
                column: column_def(def),
                position: column_position.as_ref().map(position),
            }
        }
        Op::DropColumn { column_names, .. } => {
            return column_names
                .iter()
                .map(|c| Change::DropColumn {
                    name: c.value.clone(),
                })
                .collect();
        }
        Op::ModifyColumn {
            col_name,
            data_type,
            options,
            ..
        } => Change::ModifyColumn {
            column: typed_column(&col_name.value, data_type, options),
        },
        Op::ChangeColumn {
            old_name,
            new_name,
            data_type,
            options,
            ..
        } => Change::ChangeColumn {
            old_name: old_name.value.clone(),
            column: typed_column(&new_name.value, data_type, options),
        },
        Op::RenameColumn {
            old_column_name,
            new_column_name,
        } => Change::RenameColumn {
            old_name: old_column_name.value.clone(),
            new_name: new_column_name.value.clone(),
        },
        Op::RenameTable { table_name } => {
            let (RenameTableNameKind::To(to) | RenameTableNameKind::As(to)) = table_name;
            Change::RenameTable {
                from: table_ref(name),
                to: table_ref(to),
            }
        }
        other => attribute(other, clause()),
    };
    vec![change]
}

/// Operations that change no column: indexes, constraints, options, partitions.
fn attribute(op: &Op, clause: String) -> Change {
    match op {
        Op::AddConstraint { constraint, .. } => match constraint {
            TableConstraint::PrimaryKey(_) | TableConstraint::PrimaryKeyUsingIndex(_) => {
                key_change(clause)
            }
            TableConstraint::ForeignKey(_) | TableConstraint::Check(_) => {
                Change::Ignore(Ignored::Constraint { clause })
            }
            _ => Change::Ignore(Ignored::Index { clause }),
        },
        Op::DropPrimaryKey { .. } => key_change(clause),
        Op::DropIndex { .. } => Change::Ignore(Ignored::Index { clause }),
        Op::DropForeignKey { .. } | Op::DropConstraint { .. } | Op::RenameConstraint { .. } => {
            Change::Ignore(Ignored::Constraint { clause })
        }
        Op::AlterColumn { column_name, .. } => Change::Ignore(Ignored::ColumnAttribute {
            column: column_name.value.clone(),
            clause,
        }),
        Op::AutoIncrement { .. } | Op::Algorithm { .. } | Op::Lock { .. } => {
            Change::Ignore(Ignored::TableOption { clause })
        }
        Op::AddPartitions { .. } | Op::RenamePartitions { .. } => {
            Change::Ignore(Ignored::Partitioning { clause })
        }
        Op::DropPartitions { .. } => Change::CannotApply(CannotApply::RowsWithoutEvents { clause }),
        _ => Change::CannotApply(CannotApply::Unsupported { clause }),
    }
}

/// A change of the source's PRIMARY KEY: StarRocks cannot change a table's key.
fn key_change(clause: String) -> Change {
    Change::CannotApply(CannotApply::Unsupported {
        clause: format!(
            "{clause} (changes the primary key, which StarRocks cannot change; recreate the \
             target with `starpipe prepare --recreate` after changing it by hand)"
        ),
    })
}

fn position(p: &MySQLColumnPosition) -> ColumnPosition {
    match p {
        MySQLColumnPosition::First => ColumnPosition::First,
        MySQLColumnPosition::After(c) => ColumnPosition::After(c.value.clone()),
    }
}
