//! Table schemas of the workload: MySQL source types (for `mysqlType` / `dbValType` and
//! `sqlType` / `jdbcType`), StarRocks target types and `CREATE TABLE` DDL.
//!
//! Type mapping follows `shared/spec/starrocks.md` §5.3 with two deliberate choices:
//! - MySQL `char(n)` maps to `VARCHAR(4n)` (never StarRocks CHAR) so no padding semantics can
//!   differ between the source and the target text.
//! - Every non-key column is `NULL` in StarRocks (even where the MySQL column is NOT NULL), so a
//!   delete row that carries only the key can never be filtered for a NULL in a NOT NULL column.

use crate::rng::mix;

/// How a column's values are generated (and, for some kinds, encoded per format).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Signed/unsigned integer in `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    /// BIGINT UNSIGNED: the whole `u64` range (StarRocks LARGEINT).
    BigUnsigned,
    /// DECIMAL with up to `int_digits` integer digits and exactly `scale` fraction digits.
    Decimal {
        int_digits: u32,
        scale: u32,
    },
    /// FLOAT / DOUBLE: short exact binary fractions so Java `toString` and StarRocks agree.
    Float {
        max_int: i64,
    },
    /// `tinyint(1)`: `0` / `1`.
    Bool,
    Year,
    /// BIT(8): canal's unsigned decimal.
    Bit8,
    Date,
    DateTime {
        fsp: u8,
    },
    Time,
    Text {
        style: TextStyle,
        max_chars: usize,
    },
    /// One of a fixed list (VARCHAR at the source).
    Choice(&'static [&'static str]),
    /// MySQL ENUM: canonical value is the label; canal sends the 1-based index.
    Enum(&'static [&'static str]),
    /// MySQL SET: canonical value is `a,c`; canal sends the bitmask.
    Set(&'static [&'static str]),
    /// MySQL JSON, rendered as MySQL does (`{"k": 1, "tags": ["a"]}`).
    Json,
}

/// Character repertoire of a text column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextStyle {
    /// sysbench `c`/`pad`: groups of 11 digits joined by `-`.
    Sysbench,
    /// ASCII words.
    Words,
    /// Words mixed with CJK, emoji, quotes, backslashes, tabs and newlines (when unicode is on).
    Mixed,
    /// Mostly CJK.
    Cjk,
    /// Mostly emoji (4-byte UTF-8, ZWJ sequences, flags).
    Emoji,
    /// Quotes, backslashes, JSON/CSV/SQL metacharacters.
    Quotes,
    /// Several lines with tabs.
    Multiline,
}

/// How StarRocks renders a column, i.e. which normalisation `verify` may apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Render {
    /// Compared byte for byte.
    Exact,
    /// DATETIME: fraction rendered to 6 digits or dropped when zero.
    DateTime,
    /// JSON: compared as parsed documents.
    Json,
    /// FLOAT / DOUBLE: compared as numbers.
    Float,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: &'static str,
    /// `mysqlType` / `dbValType` text.
    pub mysql_type: &'static str,
    /// `sqlType` / `jdbcType` code (java.sql.Types, as canal reports it).
    pub jdbc_type: i32,
    /// StarRocks column type.
    pub sr_type: &'static str,
    pub nullable: bool,
    pub kind: Kind,
    /// The value changes every `period` row versions (0: never after the insert).
    pub period: u32,
}

impl Column {
    pub fn render(&self) -> Render {
        match self.kind {
            Kind::DateTime { .. } => Render::DateTime,
            Kind::Json => Render::Json,
            Kind::Float { .. } => Render::Float,
            _ => Render::Exact,
        }
    }

    /// Whether the StarRocks value sorts as an integer (for key ordering).
    pub fn is_integer(&self) -> bool {
        matches!(
            self.kind,
            Kind::Int { .. } | Kind::BigUnsigned | Kind::Bool | Kind::Year | Kind::Bit8
        )
    }
}

/// How the key columns are derived from a key number `n` (unique per table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyShape {
    /// One BIGINT column equal to `n`.
    Id,
    /// `(order_id, line_no, sku)` = `(1_000_000 + n / 4, n % 4 + 1, SKU-xxxxxx)`.
    OrderItem,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: &'static str,
    /// Key columns first, in PRIMARY KEY order.
    pub columns: Vec<Column>,
    pub key_len: usize,
    pub key_shape: KeyShape,
}

impl Table {
    pub fn key_columns(&self) -> &[Column] {
        &self.columns[..self.key_len]
    }

    pub fn key_names(&self) -> Vec<&'static str> {
        self.key_columns().iter().map(|c| c.name).collect()
    }

    /// Canonical text of the key columns for key number `n`.
    pub fn key_texts(&self, n: u64) -> Vec<String> {
        match self.key_shape {
            KeyShape::Id => vec![n.to_string()],
            KeyShape::OrderItem => vec![
                (1_000_000 + n / 4).to_string(),
                (n % 4 + 1).to_string(),
                format!("SKU-{:06}", mix(n ^ 0xA5A5) % 1_000_000),
            ],
        }
    }

    /// StarRocks `CREATE TABLE` for this table in `db`.
    pub fn create_table_sql(&self, db: &str) -> String {
        let mut s = format!("CREATE TABLE IF NOT EXISTS `{db}`.`{}` (\n", self.name);
        for (i, c) in self.columns.iter().enumerate() {
            let null = if i < self.key_len { "NOT NULL" } else { "NULL" };
            let comma = if i + 1 < self.columns.len() { "," } else { "" };
            s.push_str(&format!(
                "  `{}` {} {null} COMMENT \"{}\"{comma}\n",
                c.name, c.sr_type, c.mysql_type
            ));
        }
        let keys = self
            .key_names()
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        s.push_str(&format!(
            ") ENGINE=OLAP\nPRIMARY KEY({keys})\nDISTRIBUTED BY HASH({keys}) BUCKETS 1\nPROPERTIES (\"replication_num\" = \"1\");"
        ));
        s
    }
}

/// `CREATE DATABASE` plus `CREATE TABLE` for each table, `;`-terminated, blank-line separated.
pub fn ddl(db: &str, tables: &[Table]) -> String {
    let mut s = format!("CREATE DATABASE IF NOT EXISTS `{db}`;\n");
    for t in tables {
        s.push('\n');
        s.push_str(&t.create_table_sql(db));
        s.push('\n');
    }
    s
}

const fn col(
    name: &'static str,
    mysql_type: &'static str,
    jdbc_type: i32,
    sr_type: &'static str,
    nullable: bool,
    kind: Kind,
    period: u32,
) -> Column {
    Column {
        name,
        mysql_type,
        jdbc_type,
        sr_type,
        nullable,
        kind,
        period,
    }
}

const BIGINT: i32 = -5;
const INTEGER: i32 = 4;
const SMALLINT: i32 = 5;
const TINYINT: i32 = -6;
const CHAR: i32 = 1;
const VARCHAR: i32 = 12;
const DECIMAL: i32 = 3;
const TIMESTAMP: i32 = 93;
const DATE: i32 = 91;
const TIME: i32 = 92;
const REAL: i32 = 7;
const DOUBLE: i32 = 8;
const BIT: i32 = -7;
const CLOB: i32 = 2005;

const I32: Kind = Kind::Int {
    min: i32::MIN as i64,
    max: i32::MAX as i64,
};

pub const STATUSES: &[&str] = &["NEW", "PAID", "SHIPPED", "DONE", "CANCELLED", "退款中"];
pub const SIZES: &[&str] = &["small", "medium", "large", "x-large"];
pub const FLAGS: &[&str] = &["red", "green", "blue", "gold"];

/// sysbench `sbtest`: `(id BIGINT PK, k INT, c CHAR(120), pad CHAR(60))`.
pub fn sbtest() -> Table {
    Table {
        name: "sbtest",
        key_len: 1,
        key_shape: KeyShape::Id,
        columns: vec![
            col("id", "bigint(20)", BIGINT, "BIGINT", false, I32, 0),
            col(
                "k",
                "int(11)",
                INTEGER,
                "INT",
                false,
                Kind::Int {
                    min: 0,
                    max: 1_000_000,
                },
                1,
            ),
            col(
                "c",
                "char(120)",
                CHAR,
                "VARCHAR(480)",
                false,
                Kind::Text {
                    style: TextStyle::Sysbench,
                    max_chars: 120,
                },
                2,
            ),
            col(
                "pad",
                "char(60)",
                CHAR,
                "VARCHAR(240)",
                false,
                Kind::Text {
                    style: TextStyle::Sysbench,
                    max_chars: 60,
                },
                0,
            ),
        ],
    }
}

/// `orders`: id BIGINT PK, user_id INT, amount DECIMAL(12,2), status VARCHAR(16),
/// note VARCHAR(255) NULL, created_at DATETIME, updated_at DATETIME(3).
pub fn orders() -> Table {
    Table {
        name: "orders",
        key_len: 1,
        key_shape: KeyShape::Id,
        columns: vec![
            col("id", "bigint(20)", BIGINT, "BIGINT", false, I32, 0),
            col(
                "user_id",
                "int(11)",
                INTEGER,
                "INT",
                false,
                Kind::Int {
                    min: 1,
                    max: 100_000,
                },
                0,
            ),
            col(
                "amount",
                "decimal(12,2)",
                DECIMAL,
                "DECIMAL(12,2)",
                false,
                Kind::Decimal {
                    int_digits: 10,
                    scale: 2,
                },
                3,
            ),
            col(
                "status",
                "varchar(16)",
                VARCHAR,
                "VARCHAR(64)",
                false,
                Kind::Choice(STATUSES),
                1,
            ),
            col(
                "note",
                "varchar(255)",
                VARCHAR,
                "VARCHAR(1020)",
                true,
                Kind::Text {
                    style: TextStyle::Mixed,
                    max_chars: 255,
                },
                2,
            ),
            col(
                "created_at",
                "datetime",
                TIMESTAMP,
                "DATETIME",
                false,
                Kind::DateTime { fsp: 0 },
                0,
            ),
            col(
                "updated_at",
                "datetime(3)",
                TIMESTAMP,
                "DATETIME",
                false,
                Kind::DateTime { fsp: 3 },
                1,
            ),
        ],
    }
}

/// `order_items`: composite key `(order_id BIGINT, line_no INT, sku VARCHAR(32))`, `qty INT`.
pub fn order_items() -> Table {
    Table {
        name: "order_items",
        key_len: 3,
        key_shape: KeyShape::OrderItem,
        columns: vec![
            col("order_id", "bigint(20)", BIGINT, "BIGINT", false, I32, 0),
            col("line_no", "int(11)", INTEGER, "INT", false, I32, 0),
            col(
                "sku",
                "varchar(32)",
                VARCHAR,
                "VARCHAR(128)",
                false,
                Kind::Text {
                    style: TextStyle::Words,
                    max_chars: 32,
                },
                0,
            ),
            col(
                "qty",
                "int(11)",
                INTEGER,
                "INT",
                true,
                Kind::Int { min: 1, max: 500 },
                1,
            ),
        ],
    }
}

/// `wide`: 41 columns of mixed types (ints of every width, unsigned, decimals, floats, dates,
/// datetimes, TIME, YEAR, BIT, ENUM, SET, JSON, unicode/emoji/quote/multiline text, nullables).
pub fn wide() -> Table {
    use Kind::*;
    use TextStyle::*;
    let text = |style, max_chars| Text { style, max_chars };
    Table {
        name: "wide",
        key_len: 1,
        key_shape: KeyShape::Id,
        columns: vec![
            col("id", "bigint(20)", BIGINT, "BIGINT", false, I32, 0),
            col(
                "c_tinyint",
                "tinyint(4)",
                TINYINT,
                "TINYINT",
                false,
                Int {
                    min: -128,
                    max: 127,
                },
                2,
            ),
            col(
                "c_tinyint_u",
                "tinyint(3) unsigned",
                TINYINT,
                "SMALLINT",
                true,
                Int { min: 0, max: 255 },
                5,
            ),
            col(
                "c_smallint",
                "smallint(6)",
                SMALLINT,
                "SMALLINT",
                false,
                Int {
                    min: -32768,
                    max: 32767,
                },
                3,
            ),
            col(
                "c_smallint_u",
                "smallint(5) unsigned",
                SMALLINT,
                "INT",
                true,
                Int { min: 0, max: 65535 },
                7,
            ),
            col(
                "c_mediumint",
                "mediumint(9)",
                INTEGER,
                "INT",
                true,
                Int {
                    min: -8_388_608,
                    max: 8_388_607,
                },
                4,
            ),
            col("c_int", "int(11)", INTEGER, "INT", false, I32, 1),
            col(
                "c_int_u",
                "int(10) unsigned",
                BIGINT,
                "BIGINT",
                true,
                Int {
                    min: 0,
                    max: 4_294_967_295,
                },
                6,
            ),
            col(
                "c_bigint",
                "bigint(20)",
                BIGINT,
                "BIGINT",
                false,
                Int {
                    min: i64::MIN,
                    max: i64::MAX,
                },
                2,
            ),
            col(
                "c_bigint_u",
                "bigint(20) unsigned",
                DECIMAL,
                "LARGEINT",
                true,
                BigUnsigned,
                5,
            ),
            col("c_bool", "tinyint(1)", BIT, "TINYINT", true, Bool, 3),
            col("c_year", "year", VARCHAR, "SMALLINT", true, Year, 0),
            col("c_bit", "bit(8)", BIT, "BIGINT", true, Bit8, 9),
            col(
                "c_dec_small",
                "decimal(5,2)",
                DECIMAL,
                "DECIMAL(5,2)",
                true,
                Decimal {
                    int_digits: 3,
                    scale: 2,
                },
                2,
            ),
            col(
                "c_dec",
                "decimal(18,4)",
                DECIMAL,
                "DECIMAL(18,4)",
                false,
                Decimal {
                    int_digits: 14,
                    scale: 4,
                },
                1,
            ),
            col(
                "c_dec_big",
                "decimal(38,10)",
                DECIMAL,
                "DECIMAL(38,10)",
                true,
                Decimal {
                    int_digits: 28,
                    scale: 10,
                },
                4,
            ),
            col(
                "c_dec_int",
                "decimal(10,0)",
                DECIMAL,
                "DECIMAL(10,0)",
                true,
                Decimal {
                    int_digits: 10,
                    scale: 0,
                },
                6,
            ),
            col(
                "c_float",
                "float",
                REAL,
                "FLOAT",
                true,
                Float { max_int: 10_000 },
                3,
            ),
            col(
                "c_double",
                "double",
                DOUBLE,
                "DOUBLE",
                true,
                Float { max_int: 1_000_000 },
                2,
            ),
            col("c_date", "date", DATE, "DATE", true, Date, 8),
            col(
                "c_datetime",
                "datetime",
                TIMESTAMP,
                "DATETIME",
                false,
                DateTime { fsp: 0 },
                0,
            ),
            col(
                "c_datetime3",
                "datetime(3)",
                TIMESTAMP,
                "DATETIME",
                false,
                DateTime { fsp: 3 },
                1,
            ),
            col(
                "c_datetime6",
                "datetime(6)",
                TIMESTAMP,
                "DATETIME",
                true,
                DateTime { fsp: 6 },
                2,
            ),
            col("c_time", "time", TIME, "VARCHAR(16)", true, Time, 5),
            col(
                "c_char",
                "char(10)",
                CHAR,
                "VARCHAR(40)",
                true,
                text(Words, 10),
                7,
            ),
            col(
                "c_varchar",
                "varchar(64)",
                VARCHAR,
                "VARCHAR(256)",
                false,
                text(Words, 64),
                1,
            ),
            col(
                "c_mixed",
                "varchar(255)",
                VARCHAR,
                "VARCHAR(1020)",
                true,
                text(Mixed, 255),
                2,
            ),
            col(
                "c_cjk",
                "varchar(100)",
                VARCHAR,
                "VARCHAR(400)",
                true,
                text(Cjk, 100),
                3,
            ),
            col(
                "c_emoji",
                "varchar(32)",
                VARCHAR,
                "VARCHAR(128)",
                true,
                text(Emoji, 32),
                4,
            ),
            col(
                "c_quotes",
                "varchar(128)",
                VARCHAR,
                "VARCHAR(512)",
                true,
                text(Quotes, 128),
                3,
            ),
            col(
                "c_multiline",
                "text",
                CLOB,
                "VARCHAR(65535)",
                true,
                text(Multiline, 2000),
                5,
            ),
            col(
                "c_text",
                "text",
                CLOB,
                "VARCHAR(65535)",
                true,
                text(Mixed, 6000),
                6,
            ),
            col(
                "c_mediumtext",
                "mediumtext",
                CLOB,
                "VARCHAR(1048576)",
                true,
                text(Words, 20000),
                11,
            ),
            col(
                "c_enum",
                "enum('small','medium','large','x-large')",
                INTEGER,
                "VARCHAR(32)",
                true,
                Enum(SIZES),
                4,
            ),
            col(
                "c_set",
                "set('red','green','blue','gold')",
                BIT,
                "VARCHAR(64)",
                true,
                Set(FLAGS),
                5,
            ),
            col("c_json", "json", VARCHAR, "JSON", true, Json, 3),
            col(
                "c_status",
                "varchar(16)",
                VARCHAR,
                "VARCHAR(64)",
                false,
                Choice(STATUSES),
                1,
            ),
            col("c_nullable_int", "int(11)", INTEGER, "INT", true, I32, 2),
            col(
                "c_nullable_dt",
                "datetime",
                TIMESTAMP,
                "DATETIME",
                true,
                DateTime { fsp: 0 },
                3,
            ),
            col(
                "c_neg_dec",
                "decimal(9,3)",
                DECIMAL,
                "DECIMAL(9,3)",
                true,
                Decimal {
                    int_digits: 6,
                    scale: 3,
                },
                2,
            ),
            col(
                "c_updated",
                "datetime(3)",
                TIMESTAMP,
                "DATETIME",
                false,
                DateTime { fsp: 3 },
                1,
            ),
        ],
    }
}

/// All tables, in a fixed order.
pub fn all_tables() -> Vec<Table> {
    vec![sbtest(), orders(), order_items(), wide()]
}

/// Looks a table up by name.
pub fn table(name: &str) -> Option<Table> {
    all_tables().into_iter().find(|t| t.name == name)
}
