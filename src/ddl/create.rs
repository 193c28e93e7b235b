//! `CREATE TABLE` of a StarRocks Primary Key table for a source table (starrocks.md §5.2): the
//! key columns first, in key order and NOT NULL (StarRocks requires an ordered, non-null key
//! prefix), the other columns after them in source order and nullable (a source NOT NULL
//! column may still load NULL: zero dates become NULL under `defaultZeroDate = null`), types
//! per [`super::types`], `DISTRIBUTED BY HASH(key)`, the job's buckets and properties.

use std::collections::BTreeMap;

use super::change::CannotApply;
use super::sql;
use super::translate::{StatementKind, TargetStatement};
use super::types::{Role, starrocks_type};
use crate::config::{DdlConfig, TargetName};
use crate::decode::RowBatch;
use crate::model::TableSchema;
use crate::schema::names_equal_ci;

/// What the job says about the tables it creates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateOptions {
    /// `autoCreateBuckets`: `BUCKETS n`, or `None` for StarRocks' automatic bucketing.
    pub buckets: Option<u32>,
    /// `autoCreateProperties`: `PROPERTIES ("k" = "v", …)`.
    pub properties: BTreeMap<String, String>,
    /// `[[tables]] keys`: the key columns, instead of the source's PRIMARY KEY (required when
    /// the source has none).
    pub keys: Option<Vec<String>>,
}

impl CreateOptions {
    /// The job's options (`autoCreateBuckets`, `autoCreateProperties`) with the `keys` of the
    /// table's `[[tables]]` entry (`Config::table_keys` / `Config::topic_keys`).
    pub fn new(ddl: &DdlConfig, keys: Option<&[String]>) -> Self {
        CreateOptions {
            buckets: (ddl.auto_create_buckets > 0).then_some(ddl.auto_create_buckets),
            properties: ddl.auto_create_properties.clone(),
            keys: keys.map(<[String]>::to_vec),
        }
    }
}

/// `CREATE DATABASE IF NOT EXISTS` and `CREATE TABLE IF NOT EXISTS` for `target` with the
/// columns of `schema` (types as MySQL text) and its PRIMARY KEY (or `options.keys`).
pub fn create_table(
    target: &TargetName,
    schema: &TableSchema,
    options: &CreateOptions,
) -> Result<Vec<TargetStatement>, CannotApply> {
    if schema.columns.is_empty() {
        return Err(CannotApply::NoColumns);
    }
    let bad_name = CannotApply::BadName;
    crate::names::check_database(&target.db).map_err(bad_name)?;
    crate::names::check_table(&target.table).map_err(bad_name)?;
    for column in &schema.columns {
        crate::names::check_column(&column.name).map_err(bad_name)?;
    }
    let key: &[String] = match &options.keys {
        Some(keys) if !keys.is_empty() => keys,
        _ => &schema.primary_key,
    };
    if key.is_empty() {
        return Err(CannotApply::NoPrimaryKey);
    }
    let mut key_names = Vec::with_capacity(key.len());
    let mut lines = Vec::with_capacity(schema.columns.len());
    for k in key {
        let column = schema
            .columns
            .iter()
            .find(|c| names_equal_ci(&c.name, k))
            .ok_or_else(|| CannotApply::KeyNotAColumn { column: k.clone() })?;
        lines.push(column_line(&column.name, &column.type_expr, Role::Key)?);
        key_names.push(sql::ident(&column.name));
    }
    for column in &schema.columns {
        if !key.iter().any(|k| names_equal_ci(k, &column.name)) {
            lines.push(column_line(&column.name, &column.type_expr, Role::Value)?);
        }
    }
    let keys = key_names.join(", ");
    let mut create = format!(
        "CREATE TABLE IF NOT EXISTS {} (\n  {}\n)\nPRIMARY KEY ({keys})\nDISTRIBUTED BY HASH ({keys})",
        sql::table(target),
        lines.join(",\n  ")
    );
    if let Some(n) = options.buckets {
        create.push_str(&format!(" BUCKETS {n}"));
    }
    if !options.properties.is_empty() {
        let props: Vec<String> = options
            .properties
            .iter()
            .map(|(k, v)| format!("{} = {}", sql::string(k), sql::string(v)))
            .collect();
        create.push_str(&format!("\nPROPERTIES (\n  {}\n)", props.join(",\n  ")));
    }
    Ok(vec![
        TargetStatement::new(
            format!("CREATE DATABASE IF NOT EXISTS {}", sql::ident(&target.db)),
            StatementKind::Immediate,
        ),
        TargetStatement::new(create, StatementKind::Immediate),
    ])
}

/// [`create_table`] for the table of a row message, from its column types (Canal `mysqlType` and
/// `pkNames`, CloudCanal `dbValType` and `pks`): what `autoCreateTable` runs before the first
/// load into a missing target.
pub fn create_table_for_rows(
    target: &TargetName,
    rows: &RowBatch<'_>,
    options: &CreateOptions,
) -> Result<Vec<TargetStatement>, CannotApply> {
    let schema = rows.source_schema().ok_or(CannotApply::NoColumnTypes)?;
    create_table(target, &schema, options)
}

fn column_line(name: &str, source_type: &str, role: Role) -> Result<String, CannotApply> {
    let ty = starrocks_type(source_type, role).map_err(|error| CannotApply::Type {
        column: name.to_string(),
        error,
    })?;
    let null = match role {
        Role::Key => "NOT NULL",
        Role::Value => "NULL",
    };
    Ok(format!("{} {ty} {null}", sql::ident(name)))
}
