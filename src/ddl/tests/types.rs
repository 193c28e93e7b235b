use super::*;
use crate::ddl::types::{holds, schema_change_allowed};
use crate::schema::StarRocksType as T;

#[test]
fn mysql_types_map_per_starrocks_md_5_3() {
    let dec = |p, s| T::Decimal {
        precision: p,
        scale: s,
    };
    for (source, value, key) in [
        ("tinyint", Some(T::TinyInt), Some(T::TinyInt)),
        ("tinyint(4) unsigned", Some(T::SmallInt), Some(T::SmallInt)),
        ("tinyint(1)", Some(T::TinyInt), Some(T::TinyInt)),
        ("BOOL", Some(T::TinyInt), Some(T::TinyInt)),
        ("smallint unsigned", Some(T::Int), Some(T::Int)),
        ("mediumint unsigned", Some(T::Int), Some(T::Int)),
        ("middleint", Some(T::Int), Some(T::Int)),
        ("int(11)", Some(T::Int), Some(T::Int)),
        ("INT UNSIGNED ZEROFILL", Some(T::BigInt), Some(T::BigInt)),
        ("integer", Some(T::Int), Some(T::Int)),
        ("bigint(20)", Some(T::BigInt), Some(T::BigInt)),
        ("bigint unsigned", Some(T::LargeInt), Some(T::LargeInt)),
        ("serial", Some(T::LargeInt), Some(T::LargeInt)),
        ("decimal(10,2)", Some(dec(10, 2)), Some(T::Varchar(12))),
        ("numeric(18)", Some(dec(18, 0)), Some(T::BigInt)),
        ("DEC(30,0)", Some(dec(30, 0)), Some(T::LargeInt)),
        ("decimal(65,30)", Some(T::Varchar(67)), Some(T::Varchar(67))),
        ("decimal", Some(dec(10, 0)), Some(T::BigInt)),
        ("float", Some(T::Float), None),
        ("float(30)", Some(T::Double), None),
        ("double precision", Some(T::Double), None),
        ("real", Some(T::Double), None),
        ("bit(1)", Some(T::Boolean), Some(T::Boolean)),
        ("bit(8)", Some(T::BigInt), Some(T::BigInt)),
        ("bit(64)", Some(T::LargeInt), Some(T::LargeInt)),
        ("year", Some(T::SmallInt), Some(T::SmallInt)),
        ("date", Some(T::Date), Some(T::Date)),
        ("datetime(6)", Some(T::DateTime), Some(T::DateTime)),
        ("timestamp(3)", Some(T::DateTime), Some(T::DateTime)),
        ("time(6)", Some(T::Varchar(17)), Some(T::Varchar(17))),
        ("char(10)", Some(T::Char(40)), Some(T::Varchar(40))),
        ("char(100)", Some(T::Varchar(400)), Some(T::Varchar(400))),
        ("national char(3)", Some(T::Char(12)), Some(T::Varchar(12))),
        (
            "varchar(255)",
            Some(T::Varchar(1020)),
            Some(T::Varchar(1020)),
        ),
        (
            "character varying(10)",
            Some(T::Varchar(40)),
            Some(T::Varchar(40)),
        ),
        (
            "varchar(300000)",
            Some(T::Varchar(1_048_576)),
            Some(T::Varchar(1_048_576)),
        ),
        ("tinytext", Some(T::Varchar(255)), Some(T::Varchar(255))),
        ("text", Some(T::Varchar(65_535)), Some(T::Varchar(65_535))),
        (
            "longtext",
            Some(T::Varchar(1_048_576)),
            Some(T::Varchar(1_048_576)),
        ),
        (
            "binary(16)",
            Some(T::VarBinary(Some(16))),
            Some(T::Varchar(32)),
        ),
        (
            "varbinary(100)",
            Some(T::VarBinary(Some(100))),
            Some(T::Varchar(200)),
        ),
        (
            "blob",
            Some(T::VarBinary(Some(65_535))),
            Some(T::Varchar(131_070)),
        ),
        (
            "longblob",
            Some(T::VarBinary(Some(1_048_576))),
            Some(T::Varchar(1_048_576)),
        ),
        ("json", Some(T::Json), None),
        ("geometry", Some(T::VarBinary(Some(1_048_576))), None),
        (
            "enum('a','bb','c''c')",
            Some(T::Varchar(12)),
            Some(T::Varchar(12)),
        ),
        ("set('x','yy')", Some(T::Varchar(16)), Some(T::Varchar(16))),
        ("ENUM('a', 'b')", Some(T::Varchar(4)), Some(T::Varchar(4))),
    ] {
        assert_eq!(
            starrocks_type(source, Role::Value).ok(),
            value,
            "{source} (value)"
        );
        assert_eq!(
            starrocks_type(source, Role::Key).ok(),
            key,
            "{source} (key)"
        );
    }
    for unknown in ["uuid", "int[]", "", "enum"] {
        assert!(
            matches!(
                starrocks_type(unknown, Role::Value),
                Err(TypeError::Unknown(_))
            ),
            "{unknown}"
        );
    }
    assert!(matches!(
        starrocks_type("double", Role::Key),
        Err(TypeError::NotAKey(..))
    ));
}

#[test]
fn schema_change_rules_follow_starrocks() {
    let dec = |p, s| T::Decimal {
        precision: p,
        scale: s,
    };
    for (from, to, allowed) in [
        (T::TinyInt, T::Int, true),
        (T::Int, T::BigInt, true),
        (T::BigInt, T::LargeInt, true),
        (T::LargeInt, T::Double, false),
        (T::BigInt, T::Int, false),
        (T::Int, T::Double, true),
        (T::Int, T::Varchar(11), true),
        (T::Int, T::Varchar(10), false),
        (T::Int, dec(12, 2), false),
        (T::Float, T::Double, true),
        (T::Double, T::Float, false),
        (T::Varchar(10), T::Varchar(20), true),
        (T::Varchar(20), T::Varchar(10), false),
        (T::Char(4), T::Varchar(8), true),
        (T::Varchar(8), T::Char(8), false),
        (T::Varchar(8), T::Int, true),
        (T::Varchar(8), dec(10, 2), true),
        (dec(10, 2), dec(12, 2), true),
        (dec(10, 2), dec(12, 4), true),
        (dec(10, 2), dec(10, 3), false),
        (dec(10, 2), T::Varchar(12), true),
        (dec(10, 2), T::Varchar(11), false),
        (T::Date, T::DateTime, true),
        (T::DateTime, T::Date, true),
        (T::Int, T::Date, true),
        (T::Boolean, T::TinyInt, false),
        (T::Json, T::Varchar(100), true),
        (T::Varchar(100), T::Json, true),
        (T::Int, T::Int, true),
    ] {
        assert_eq!(schema_change_allowed(&from, &to), allowed, "{from} → {to}");
    }
}

#[test]
fn a_wider_type_holds_a_narrower_one() {
    let dec = |p, s| T::Decimal {
        precision: p,
        scale: s,
    };
    for (current, new, held) in [
        (T::BigInt, T::Int, true),
        (T::Int, T::BigInt, false),
        (T::Varchar(80), T::Varchar(40), true),
        (T::Varchar(80), T::Char(40), true),
        (T::Varchar(40), T::Varchar(80), false),
        (T::Double, T::Float, true),
        (dec(12, 4), dec(10, 2), true),
        (dec(12, 2), dec(10, 3), false),
        (T::Date, T::DateTime, false),
        (T::Boolean, T::TinyInt, false),
    ] {
        assert_eq!(holds(&current, &new), held, "{current} holds {new}");
    }
}
