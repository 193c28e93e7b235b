//! The StarRocks side of a table: column types, nullability, key, table model.
//!
//! Built from what the FE reports (`information_schema.columns`, `DESC`, `SHOW CREATE TABLE`;
//! starrocks.md §5.6). The encoder uses it to decide how each value is written and what it is
//! checked against; the types are therefore the *storage* types, not the source types.

use std::fmt;

use thiserror::Error;

/// Longest VARCHAR StarRocks accepts (bytes, 2.1+).
pub const MAX_VARCHAR_LEN: u32 = 1_048_576;
/// `STRING` is VARCHAR(65533) (starrocks.md §5.3).
pub const STRING_LEN: u32 = 65_533;

/// A StarRocks column type as far as loading needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StarRocksType {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    /// 128-bit signed.
    LargeInt,
    Float,
    Double,
    /// DECIMAL / DECIMALV2 / DECIMALV3 / DECIMAL32/64/128/256 — all exact, all checked the same.
    Decimal {
        precision: u8,
        scale: u8,
    },
    Date,
    DateTime,
    /// Length in bytes.
    Char(u32),
    /// Length in bytes (`STRING` is `Varchar(65533)`).
    Varchar(u32),
    Json,
    /// Length in bytes when declared.
    VarBinary(Option<u32>),
    /// ARRAY, MAP, STRUCT, BITMAP, HLL, … — kept as the FE printed it; values go through as text.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaError {
    #[error("cannot parse StarRocks column type `{0}`")]
    BadType(String),
    #[error("unknown table model `{0}`")]
    BadModel(String),
    #[error(
        "table {db}.{table}: duplicate column name `{column}` (column names are case-insensitive)"
    )]
    DuplicateColumn {
        db: String,
        table: String,
        column: String,
    },
    #[error("table {db}.{table} has no columns")]
    NoColumns { db: String, table: String },
    #[error("table {db}.{table} has no column `{column}` to project onto")]
    NoSuchColumn {
        db: String,
        table: String,
        column: String,
    },
    #[error(
        "table {db}.{table}: a partial update must carry every key column, and `{column}` is \
         not among the projected columns"
    )]
    KeyNotProjected {
        db: String,
        table: String,
        column: String,
    },
}

impl StarRocksType {
    /// Parses type text as `information_schema.columns.COLUMN_TYPE` or `DESC` print it,
    /// case-insensitively: `bigint(20)`, `decimal64(18, 2)`, `varchar(65533)`, `bigint(20) unsigned`
    /// (how information_schema shows LARGEINT), `tinyint(1)` (how it shows BOOLEAN), …
    pub fn parse(text: &str) -> Result<StarRocksType, SchemaError> {
        let bad = || SchemaError::BadType(text.to_string());
        let t = text.trim().to_ascii_lowercase();
        if t.is_empty() {
            return Err(bad());
        }
        // Nested types keep their own grammar; the encoder only passes their text through.
        if t.contains('<') {
            return Ok(StarRocksType::Other(text.trim().to_string()));
        }
        let (name, args, rest) = match t.find('(') {
            Some(open) => {
                let close = t[open..].find(')').map(|c| open + c).ok_or_else(bad)?;
                (&t[..open], Some(&t[open + 1..close]), &t[close + 1..])
            }
            None => match t.find(char::is_whitespace) {
                Some(sp) => (&t[..sp], None, &t[sp..]),
                None => (t.as_str(), None, ""),
            },
        };
        let name = name.trim();
        let mut unsigned = false;
        for word in rest.split_whitespace() {
            match word {
                "unsigned" => unsigned = true,
                "signed" | "zerofill" => {}
                _ => return Err(bad()),
            }
        }
        let nums: Vec<u32> = match args {
            None => Vec::new(),
            Some(a) if a.trim().is_empty() => Vec::new(),
            Some(a) => a
                .split(',')
                .map(|n| n.trim().parse::<u32>().map_err(|_| bad()))
                .collect::<Result<_, _>>()?,
        };
        let len_arg = |default: u32| -> Result<u32, SchemaError> {
            match nums.as_slice() {
                [] => Ok(default),
                [n] => Ok(*n),
                _ => Err(bad()),
            }
        };
        let ty = match name {
            "boolean" | "bool" => StarRocksType::Boolean,
            // information_schema prints BOOLEAN as tinyint(1); a real TINYINT prints as tinyint(4).
            "tinyint" if nums.as_slice() == [1] && !unsigned => StarRocksType::Boolean,
            "tinyint" if unsigned => StarRocksType::SmallInt,
            "tinyint" => StarRocksType::TinyInt,
            "smallint" if unsigned => StarRocksType::Int,
            "smallint" => StarRocksType::SmallInt,
            "int" | "integer" if unsigned => StarRocksType::BigInt,
            "int" | "integer" => StarRocksType::Int,
            // information_schema prints LARGEINT as `bigint(20) unsigned`.
            "bigint" if unsigned => StarRocksType::LargeInt,
            "bigint" => StarRocksType::BigInt,
            "largeint" => StarRocksType::LargeInt,
            "float" => StarRocksType::Float,
            "double" => StarRocksType::Double,
            "decimal" | "decimalv2" | "decimalv3" | "decimal32" | "decimal64" | "decimal128"
            | "decimal256" | "numeric" => {
                let (p, s) = match nums.as_slice() {
                    [] => (10, 0),
                    [p] => (*p, 0),
                    [p, s] => (*p, *s),
                    _ => return Err(bad()),
                };
                if p == 0 || p > 76 || s > p {
                    return Err(bad());
                }
                StarRocksType::Decimal {
                    precision: p as u8,
                    scale: s as u8,
                }
            }
            "date" | "datev2" => StarRocksType::Date,
            "datetime" | "datetimev2" | "timestamp" => StarRocksType::DateTime,
            "char" => StarRocksType::Char(len_arg(1)?),
            "varchar" => StarRocksType::Varchar(len_arg(MAX_VARCHAR_LEN)?),
            "string" | "text" => StarRocksType::Varchar(len_arg(STRING_LEN)?),
            "json" | "jsonb" => StarRocksType::Json,
            "varbinary" | "binary" => StarRocksType::VarBinary(match nums.as_slice() {
                [] => None,
                [n] => Some(*n),
                _ => return Err(bad()),
            }),
            "" => return Err(bad()),
            _ if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                StarRocksType::Other(text.trim().to_string())
            }
            _ => return Err(bad()),
        };
        Ok(ty)
    }

    /// Whether the type is BOOLEAN or an integer type (its values are written bare in SQL).
    pub fn is_integer(&self) -> bool {
        matches!(
            self,
            StarRocksType::Boolean
                | StarRocksType::TinyInt
                | StarRocksType::SmallInt
                | StarRocksType::Int
                | StarRocksType::BigInt
                | StarRocksType::LargeInt
        )
    }

    /// Whether StarRocks allows the type in a PRIMARY KEY (starrocks.md §5.2).
    pub fn allowed_in_key(&self) -> bool {
        self.is_integer()
            || matches!(
                self,
                StarRocksType::Varchar(_) | StarRocksType::Date | StarRocksType::DateTime
            )
    }
}

impl fmt::Display for StarRocksType {
    /// The DDL spelling.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StarRocksType::Boolean => f.write_str("BOOLEAN"),
            StarRocksType::TinyInt => f.write_str("TINYINT"),
            StarRocksType::SmallInt => f.write_str("SMALLINT"),
            StarRocksType::Int => f.write_str("INT"),
            StarRocksType::BigInt => f.write_str("BIGINT"),
            StarRocksType::LargeInt => f.write_str("LARGEINT"),
            StarRocksType::Float => f.write_str("FLOAT"),
            StarRocksType::Double => f.write_str("DOUBLE"),
            StarRocksType::Decimal { precision, scale } => {
                write!(f, "DECIMAL({precision},{scale})")
            }
            StarRocksType::Date => f.write_str("DATE"),
            StarRocksType::DateTime => f.write_str("DATETIME"),
            StarRocksType::Char(n) => write!(f, "CHAR({n})"),
            StarRocksType::Varchar(n) => write!(f, "VARCHAR({n})"),
            StarRocksType::Json => f.write_str("JSON"),
            StarRocksType::VarBinary(Some(n)) => write!(f, "VARBINARY({n})"),
            StarRocksType::VarBinary(None) => f.write_str("VARBINARY"),
            StarRocksType::Other(t) => f.write_str(t),
        }
    }
}

/// The table model (`information_schema.tables_config.TABLE_MODEL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableModel {
    PrimaryKeys,
    Duplicate,
    Unique,
    Aggregate,
}

impl TableModel {
    /// Accepts `TABLE_MODEL` values (`PRI_KEYS`, `DUP_KEYS`, `UNQ_KEYS`, `AGG_KEYS`) and the
    /// `COLUMN_KEY` spellings (`PRI`, `DUP`, `UNI`, `AGG`), case-insensitively.
    pub fn parse(text: &str) -> Result<TableModel, SchemaError> {
        match text.trim().to_ascii_uppercase().as_str() {
            "PRI_KEYS" | "PRI" | "PRIMARY_KEYS" | "PRIMARY KEY" => Ok(TableModel::PrimaryKeys),
            "DUP_KEYS" | "DUP" | "DUPLICATE_KEYS" | "DUPLICATE KEY" => Ok(TableModel::Duplicate),
            "UNQ_KEYS" | "UNI" | "UNIQUE_KEYS" | "UNIQUE KEY" => Ok(TableModel::Unique),
            "AGG_KEYS" | "AGG" | "AGGREGATE_KEYS" | "AGGREGATE KEY" => Ok(TableModel::Aggregate),
            _ => Err(SchemaError::BadModel(text.to_string())),
        }
    }
}

/// One column of a StarRocks table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetColumn {
    pub name: String,
    pub ty: StarRocksType,
    pub nullable: bool,
    pub is_key: bool,
    /// `COLUMN_DEFAULT` is not NULL (or the column is nullable, which defaults to NULL).
    pub has_default: bool,
    /// The default as the FE prints it (`DESC`'s `Default`), when there is one; a `MODIFY
    /// COLUMN` must restate it unchanged (StarRocks: "Can not change default value").
    pub default: Option<String>,
}

impl TargetColumn {
    pub fn new(name: impl Into<String>, ty: StarRocksType, nullable: bool, is_key: bool) -> Self {
        TargetColumn {
            name: name.into(),
            ty,
            nullable,
            is_key,
            has_default: nullable,
            default: None,
        }
    }

    /// From an `information_schema.columns` row: `COLUMN_NAME`, `COLUMN_TYPE`, `IS_NULLABLE`
    /// (`YES`/`NO`), `COLUMN_KEY` (`PRI`/`DUP`/`UNI`/`AGG` for key columns, empty otherwise),
    /// `COLUMN_DEFAULT`.
    pub fn from_information_schema(
        name: &str,
        column_type: &str,
        is_nullable: &str,
        column_key: &str,
        column_default: Option<&str>,
    ) -> Result<TargetColumn, SchemaError> {
        let nullable = is_nullable.trim().eq_ignore_ascii_case("YES");
        Ok(TargetColumn {
            name: name.to_string(),
            ty: StarRocksType::parse(column_type)?,
            nullable,
            is_key: !column_key.trim().is_empty(),
            has_default: nullable || column_default.is_some(),
            default: column_default.map(str::to_string),
        })
    }

    /// From a `DESC t` row: `Field`, `Type`, `Null` (`YES`/`NO`), `Key` (`true`/`false`),
    /// `Default`.
    pub fn from_desc(
        field: &str,
        ty: &str,
        null: &str,
        key: &str,
        default: Option<&str>,
    ) -> Result<TargetColumn, SchemaError> {
        let nullable = null.trim().eq_ignore_ascii_case("YES");
        Ok(TargetColumn {
            name: field.to_string(),
            ty: StarRocksType::parse(ty)?,
            nullable,
            is_key: key.trim().eq_ignore_ascii_case("true"),
            has_default: nullable || default.is_some(),
            default: default.map(str::to_string),
        })
    }
}

/// How a load into a table writes its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RowUpdate {
    /// Rows carry every column and replace whole rows.
    #[default]
    Full,
    /// Rows carry only the table's columns — a projection of the real table
    /// ([`TargetTable::project`]) — and loads set `partial_update`, so StarRocks keeps the stored
    /// values of the other columns (and gives a new key their defaults; starrocks.md §1.8).
    Partial,
}

/// A StarRocks table: columns in table order, key column indexes, model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetTable {
    pub db: String,
    pub table: String,
    pub columns: Vec<TargetColumn>,
    /// Indexes into `columns` of the key columns, in key order.
    pub key: Vec<usize>,
    pub model: TableModel,
    /// Part of equality: a projection is a different load shape from its full table.
    pub update: RowUpdate,
}

impl TargetTable {
    /// Builds a table; the key is the columns flagged `is_key`, in table order (StarRocks requires
    /// key columns to be an ordered prefix, so table order is key order).
    pub fn new(
        db: impl Into<String>,
        table: impl Into<String>,
        columns: Vec<TargetColumn>,
        model: TableModel,
    ) -> Result<TargetTable, SchemaError> {
        let db = db.into();
        let table = table.into();
        if columns.is_empty() {
            return Err(SchemaError::NoColumns { db, table });
        }
        for (i, c) in columns.iter().enumerate() {
            if columns[..i]
                .iter()
                .any(|p| names_equal_ci(&p.name, &c.name))
            {
                return Err(SchemaError::DuplicateColumn {
                    db,
                    table,
                    column: c.name.clone(),
                });
            }
        }
        let key = columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_key)
            .map(|(i, _)| i)
            .collect();
        Ok(TargetTable {
            db,
            table,
            columns,
            key,
            model,
            update: RowUpdate::Full,
        })
    }

    /// The table as a partial update of the given columns sees it: those columns (matched like
    /// [`TargetTable::column_index`] matches names; repeats count once) in table order, with
    /// `update` [`RowUpdate::Partial`]. Every key column must be among them, because a partial
    /// update finds the row to change by its key.
    pub fn project<S: AsRef<str>>(&self, columns: &[S]) -> Result<TargetTable, SchemaError> {
        let mut kept = vec![false; self.columns.len()];
        for name in columns {
            let name = name.as_ref();
            let i = self
                .column_index(name)
                .ok_or_else(|| SchemaError::NoSuchColumn {
                    db: self.db.clone(),
                    table: self.table.clone(),
                    column: name.to_string(),
                })?;
            kept[i] = true;
        }
        if let Some(&k) = self.key.iter().find(|&&k| !kept[k]) {
            return Err(SchemaError::KeyNotProjected {
                db: self.db.clone(),
                table: self.table.clone(),
                column: self.columns[k].name.clone(),
            });
        }
        let columns = self
            .columns
            .iter()
            .zip(&kept)
            .filter(|(_, kept)| **kept)
            .map(|(c, _)| c.clone())
            .collect();
        // A key column's new index is the number of kept columns before it.
        let key = self
            .key
            .iter()
            .map(|&k| kept[..k].iter().filter(|kept| **kept).count())
            .collect();
        Ok(TargetTable {
            db: self.db.clone(),
            table: self.table.clone(),
            columns,
            key,
            model: self.model,
            update: RowUpdate::Partial,
        })
    }

    /// Index of a column by name: exact match first, then case-insensitive (StarRocks and MySQL
    /// column names are case-insensitive; formats.md §4.4).
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .or_else(|| {
                self.columns
                    .iter()
                    .position(|c| names_equal_ci(&c.name, name))
            })
    }

    pub fn column(&self, name: &str) -> Option<&TargetColumn> {
        self.column_index(name).map(|i| &self.columns[i])
    }

    pub fn key_columns(&self) -> impl Iterator<Item = &TargetColumn> {
        self.key.iter().map(|&i| &self.columns[i])
    }
}

impl fmt::Display for TargetTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.db, self.table)
    }
}

/// Case-insensitive identifier comparison (ASCII fast path, then Unicode lower case).
pub fn names_equal_ci(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    if a.is_ascii() && b.is_ascii() {
        return false;
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str) -> StarRocksType {
        StarRocksType::parse(t).unwrap()
    }

    #[test]
    fn parses_information_schema_and_desc_spellings() {
        assert_eq!(p("tinyint(4)"), StarRocksType::TinyInt);
        assert_eq!(p("TINYINT"), StarRocksType::TinyInt);
        assert_eq!(p("tinyint(1)"), StarRocksType::Boolean);
        assert_eq!(p("boolean"), StarRocksType::Boolean);
        assert_eq!(p("smallint(6)"), StarRocksType::SmallInt);
        assert_eq!(p("int(11)"), StarRocksType::Int);
        assert_eq!(p("bigint(20)"), StarRocksType::BigInt);
        assert_eq!(p("bigint(20) unsigned"), StarRocksType::LargeInt);
        assert_eq!(p("largeint(40)"), StarRocksType::LargeInt);
        assert_eq!(p("largeint"), StarRocksType::LargeInt);
        assert_eq!(p("float"), StarRocksType::Float);
        assert_eq!(p("DOUBLE"), StarRocksType::Double);
        assert_eq!(
            p("decimal(10,2)"),
            StarRocksType::Decimal {
                precision: 10,
                scale: 2
            }
        );
        assert_eq!(
            p("decimal64(18, 2)"),
            StarRocksType::Decimal {
                precision: 18,
                scale: 2
            }
        );
        assert_eq!(
            p("DECIMALV3(38,10)"),
            StarRocksType::Decimal {
                precision: 38,
                scale: 10
            }
        );
        assert_eq!(
            p("decimal256(76,30)"),
            StarRocksType::Decimal {
                precision: 76,
                scale: 30
            }
        );
        assert_eq!(p("date"), StarRocksType::Date);
        assert_eq!(p("datetime"), StarRocksType::DateTime);
        assert_eq!(p("char(10)"), StarRocksType::Char(10));
        assert_eq!(p("varchar(64)"), StarRocksType::Varchar(64));
        assert_eq!(p("string"), StarRocksType::Varchar(STRING_LEN));
        assert_eq!(p("varchar"), StarRocksType::Varchar(MAX_VARCHAR_LEN));
        assert_eq!(p("json"), StarRocksType::Json);
        assert_eq!(p("varbinary(16)"), StarRocksType::VarBinary(Some(16)));
        assert_eq!(p("binary"), StarRocksType::VarBinary(None));
        assert_eq!(
            p("array<int(11)>"),
            StarRocksType::Other("array<int(11)>".into())
        );
        assert_eq!(
            p("MAP<varchar(10),int>"),
            StarRocksType::Other("MAP<varchar(10),int>".into())
        );
        assert_eq!(p("bitmap"), StarRocksType::Other("bitmap".into()));
    }

    #[test]
    fn rejects_garbage() {
        for t in [
            "",
            "decimal(0,0)",
            "decimal(10,12)",
            "decimal(77,0)",
            "varchar(x)",
            "int(11",
            "int(11) foo",
            "in t",
        ] {
            assert!(StarRocksType::parse(t).is_err(), "{t}");
        }
    }

    #[test]
    fn display_round_trips() {
        for t in [
            "boolean",
            "tinyint",
            "smallint",
            "int",
            "bigint",
            "largeint",
            "float",
            "double",
            "decimal(27,9)",
            "date",
            "datetime",
            "char(3)",
            "varchar(7)",
            "json",
            "varbinary(9)",
            "varbinary",
        ] {
            let ty = p(t);
            assert_eq!(p(&ty.to_string()), ty, "{t}");
        }
    }

    #[test]
    fn columns_from_information_schema_and_desc() {
        let c =
            TargetColumn::from_information_schema("id", "bigint(20)", "NO", "PRI", None).unwrap();
        assert_eq!(c.ty, StarRocksType::BigInt);
        assert!(c.is_key && !c.nullable && !c.has_default);
        let c =
            TargetColumn::from_information_schema("flag", "tinyint(1)", "YES", "", None).unwrap();
        assert_eq!(c.ty, StarRocksType::Boolean);
        assert!(!c.is_key && c.nullable && c.has_default);
        let c = TargetColumn::from_information_schema(
            "big",
            "bigint(20) unsigned",
            "NO",
            "",
            Some("0"),
        )
        .unwrap();
        assert_eq!(c.ty, StarRocksType::LargeInt);
        assert!(c.has_default);
        let c = TargetColumn::from_desc("k", "largeint(40)", "NO", "true", None).unwrap();
        assert_eq!(c.ty, StarRocksType::LargeInt);
        assert!(c.is_key);
        let c = TargetColumn::from_desc("v", "varchar(65533)", "YES", "false", None).unwrap();
        assert!(!c.is_key && c.nullable);
        assert!(TargetColumn::from_desc("v", "wat(", "YES", "false", None).is_err());
    }

    #[test]
    fn models() {
        assert_eq!(
            TableModel::parse("PRI_KEYS").unwrap(),
            TableModel::PrimaryKeys
        );
        assert_eq!(TableModel::parse("pri").unwrap(), TableModel::PrimaryKeys);
        assert_eq!(
            TableModel::parse("DUP_KEYS").unwrap(),
            TableModel::Duplicate
        );
        assert_eq!(TableModel::parse("UNQ_KEYS").unwrap(), TableModel::Unique);
        assert_eq!(TableModel::parse("AGG").unwrap(), TableModel::Aggregate);
        assert!(TableModel::parse("x").is_err());
    }

    #[test]
    fn lookup_is_exact_then_case_insensitive() {
        let t = TargetTable::new(
            "Shop-EU",
            "Order Items",
            vec![
                TargetColumn::new("Order-ID", StarRocksType::BigInt, false, true),
                TargetColumn::new("行号", StarRocksType::Int, false, true),
                TargetColumn::new("SKU", StarRocksType::Varchar(32), true, false),
                TargetColumn::new("Ünï", StarRocksType::Varchar(32), true, false),
            ],
            TableModel::PrimaryKeys,
        )
        .unwrap();
        assert_eq!(t.key, vec![0, 1]);
        assert_eq!(t.column_index("Order-ID"), Some(0));
        assert_eq!(t.column_index("order-id"), Some(0));
        assert_eq!(t.column_index("行号"), Some(1));
        assert_eq!(t.column_index("sku"), Some(2));
        assert_eq!(t.column_index("ünÏ"), Some(3));
        assert_eq!(t.column_index("nope"), None);
        let dup = TargetTable::new(
            "d",
            "t",
            vec![
                TargetColumn::new("a", StarRocksType::Int, false, true),
                TargetColumn::new("A", StarRocksType::Int, true, false),
            ],
            TableModel::PrimaryKeys,
        );
        assert!(matches!(dup, Err(SchemaError::DuplicateColumn { .. })));
    }

    fn wide() -> TargetTable {
        TargetTable::new(
            "d",
            "t",
            vec![
                TargetColumn::new("Tenant", StarRocksType::Int, false, true),
                TargetColumn::new("id", StarRocksType::BigInt, false, true),
                TargetColumn::new("a", StarRocksType::Int, true, false),
                TargetColumn::new("b", StarRocksType::Int, true, false),
                TargetColumn::new("c", StarRocksType::Int, true, false),
            ],
            TableModel::PrimaryKeys,
        )
        .unwrap()
    }

    #[test]
    fn projection_keeps_table_order_and_the_key() {
        let t = wide();
        assert_eq!(t.update, RowUpdate::Full);
        // Any order, any case, repeats: table order, table spelling, once.
        let p = t.project(&["c", "ID", "tenant", "c"]).unwrap();
        let names: Vec<&str> = p.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Tenant", "id", "c"]);
        assert_eq!(p.key, vec![0, 1]);
        assert_eq!(p.update, RowUpdate::Partial);
        assert_eq!(
            (p.db.as_str(), p.table.as_str(), p.model),
            ("d", "t", t.model)
        );
        // A projection onto every column is still a partial update: not the full table.
        let all: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
        let p = t.project(&all).unwrap();
        assert_eq!(p.columns, t.columns);
        assert_ne!(p, t);
        assert_eq!(p.project(&["id", "tenant"]).unwrap().columns.len(), 2);
    }

    #[test]
    fn projection_needs_every_key_column_and_known_names() {
        let t = wide();
        assert_eq!(
            t.project(&["id", "a"]),
            Err(SchemaError::KeyNotProjected {
                db: "d".into(),
                table: "t".into(),
                column: "Tenant".into(),
            })
        );
        assert_eq!(
            t.project(&["id", "tenant", "nope"]),
            Err(SchemaError::NoSuchColumn {
                db: "d".into(),
                table: "t".into(),
                column: "nope".into(),
            })
        );
    }
}
