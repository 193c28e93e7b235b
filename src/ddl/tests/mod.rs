//! Table-driven tests of the parse, the translation, "already applied" and the type mapping.

mod applied;
mod parse;
mod rows;
mod translate;
mod types;

use super::*;
use crate::config::TargetName;
use crate::schema::{StarRocksType, TableModel, TargetColumn, TargetTable};

const SOURCE: SourceName<'static> = SourceName {
    db: "shop",
    table: "orders",
};

fn col(name: &str, ty: &str) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        source_type: ty.into(),
        not_null: false,
        default: None,
    }
}

fn target() -> TargetName {
    TargetName {
        db: "ods".into(),
        table: "orders".into(),
    }
}

/// `ods.orders`: key (id BIGINT, line INT), then qty INT, name VARCHAR(80), price
/// DECIMAL(10,2) NOT NULL DEFAULT "0.00", flag BOOLEAN.
fn table() -> TargetTable {
    let c = |name: &str, ty: StarRocksType, nullable: bool, key: bool| {
        TargetColumn::new(name, ty, nullable, key)
    };
    let mut price = c(
        "price",
        StarRocksType::Decimal {
            precision: 10,
            scale: 2,
        },
        false,
        false,
    );
    price.default = Some("0.00".into());
    price.has_default = true;
    TargetTable::new(
        "ods",
        "orders",
        vec![
            c("id", StarRocksType::BigInt, false, true),
            c("line", StarRocksType::Int, false, true),
            c("qty", StarRocksType::Int, true, false),
            c("name", StarRocksType::Varchar(80), true, false),
            price,
            c("flag", StarRocksType::Boolean, true, false),
        ],
        TableModel::PrimaryKeys,
    )
    .unwrap()
}
