//! Column definitions and `CREATE TABLE` as sqlparser reads them → [`ColumnDef`] and
//! [`TableSchema`].

use sqlparser::ast::{
    ColumnDef as SqlColumnDef, ColumnOption, ColumnOptionDef, CreateTable, DataType, Expr,
    TableConstraint, UnaryOperator, Value,
};

use super::change::{CannotApply, Change, ColumnDef, SourceDefault};
use crate::model::{SchemaColumn, TableSchema};

pub(super) fn column_def(def: &SqlColumnDef) -> ColumnDef {
    typed_column(&def.name.value, &def.data_type, &def.options)
}

/// A column from its name, type and options. The type is kept as MySQL text
/// (`DataType`'s display, e.g. `INT(11) UNSIGNED`, `ENUM('a', 'b')`), the form `mysqlType`
/// has, so one type grammar (the decoder's) reads both.
pub(super) fn typed_column(
    name: &str,
    data_type: &DataType,
    options: &[impl AsOption],
) -> ColumnDef {
    let mut column = ColumnDef {
        name: name.to_string(),
        source_type: data_type.to_string(),
        not_null: false,
        default: None,
    };
    for option in options {
        match option.option() {
            ColumnOption::NotNull | ColumnOption::PrimaryKey(_) => column.not_null = true,
            ColumnOption::Null => column.not_null = false,
            ColumnOption::Default(expr) => column.default = Some(default(expr)),
            _ => {}
        }
    }
    column
}

/// Options come as `ColumnOptionDef` in column definitions and as bare `ColumnOption` in
/// `MODIFY` / `CHANGE`.
pub(super) trait AsOption {
    fn option(&self) -> &ColumnOption;
}

impl AsOption for ColumnOption {
    fn option(&self) -> &ColumnOption {
        self
    }
}

impl AsOption for ColumnOptionDef {
    fn option(&self) -> &ColumnOption {
        &self.option
    }
}

pub(super) fn has_primary_key(options: &[ColumnOptionDef]) -> bool {
    options
        .iter()
        .any(|o| matches!(o.option, ColumnOption::PrimaryKey(_)))
}

/// A default: constants as their text, `NULL`, anything else as an expression.
fn default(expr: &Expr) -> SourceDefault {
    let literal = |v: &Value| match v {
        Value::Number(n, _) => Some(n.clone()),
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
        Value::Boolean(b) => Some(if *b { "1" } else { "0" }.to_string()),
        _ => None,
    };
    match expr {
        Expr::Value(v) if matches!(v.value, Value::Null) => SourceDefault::Null,
        Expr::Value(v) => literal(&v.value).map_or_else(
            || SourceDefault::Expression(expr.to_string()),
            SourceDefault::Literal,
        ),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr: inner,
        } => match inner.as_ref() {
            Expr::Value(v) if matches!(v.value, Value::Number(..)) => {
                SourceDefault::Literal(format!("-{}", v.value))
            }
            _ => SourceDefault::Expression(expr.to_string()),
        },
        _ => SourceDefault::Expression(expr.to_string()),
    }
}

/// `CREATE TABLE`: the columns in order and the PRIMARY KEY (a table constraint or a column's
/// `PRIMARY KEY`). `LIKE` and `AS SELECT` name no columns and cannot be replicated.
pub(super) fn create_table(create: &CreateTable) -> Change {
    if create.like.is_some() || create.query.is_some() {
        return Change::CannotApply(CannotApply::Unsupported {
            clause: "CREATE TABLE … LIKE / AS SELECT (the statement names no columns)".into(),
        });
    }
    let columns: Vec<SchemaColumn> = create
        .columns
        .iter()
        .map(|c| SchemaColumn {
            name: c.name.value.clone(),
            type_expr: c.data_type.to_string(),
        })
        .collect();
    let mut primary_key: Vec<String> = create
        .columns
        .iter()
        .filter(|c| has_primary_key(&c.options))
        .map(|c| c.name.value.clone())
        .collect();
    for constraint in &create.constraints {
        if let TableConstraint::PrimaryKey(pk) = constraint {
            for c in &pk.columns {
                match &c.column.expr {
                    Expr::Identifier(ident) => primary_key.push(ident.value.clone()),
                    other => {
                        return Change::CannotApply(CannotApply::Unsupported {
                            clause: format!("PRIMARY KEY part `{other}`"),
                        });
                    }
                }
            }
        }
    }
    Change::CreateTable {
        schema: TableSchema {
            columns,
            primary_key,
        },
    }
}
