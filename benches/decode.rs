//! Decode throughput on a realistic, deterministically generated CDC corpus (no files).
//!
//! The corpus: OLTP-like rows of three tables (12–18 columns: BIGINT ids, INTs, DECIMAL(10,2),
//! VARCHAR names / e-mails / addresses with some non-ASCII text, DATETIME, TIMESTAMP(3), a
//! nullable note, ENUM and TINYINT status), 1–50 rows per message, 70 % INSERT / 25 % UPDATE /
//! 5 % DELETE, serialised in both formats from the same event stream: canal-json (with
//! `mysqlType`, UPDATE `old` holding the 1–3 changed columns) and CloudCanal JSON (with
//! `dbValType`, UPDATE `before` holding the full before image).
//!
//! For each format, five benchmarks over the whole corpus, each copying every message into a
//! reusable buffer before parsing it in place (the same copy for all five):
//! * `decode` — [`Decoder::decode`], touching every column of every change;
//! * `decode+encode` — decode, then [`BodyEncoder::push_row`] every change into the table's
//!   block, and build the Stream Load body per table (encoders, blocks and body buffers reused);
//! * `simd_json` — `simd_json::to_borrowed_value` only (baseline);
//! * `simd_json_tape` — `simd_json::fill_tape_padded` only: the parse the decoder itself runs
//!   (floor);
//! * `serde_json` — `serde_json::from_slice::<serde_json::Value>` only (baseline).
//!
//! Throughput is in bytes (criterion prints MB/s); a summary with rows/s and the ratios
//! decode+encode / simd_json and decode+encode / serde_json is printed at the end.
//!
//! `cargo bench --bench decode` (`-- <filter>` to run a subset). Two modes skip criterion:
//! `STARPIPE_BENCH_PASSES=N` runs N passes of decode+encode per format (for `perf record`), and
//! `STARPIPE_BENCH_RATIO=N` alternates N passes of decode+encode and of simd-json per format and
//! prints the fastest of each and their ratio (for comparing two builds on a busy machine).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Bencher, Criterion, Throughput};
use starpipe::decode::{DecodeOptions, Decoded, Decoder, Format, MessageKeys};
use starpipe::encode::{BodyEncoder, BodyFormat, EncodedBlock};
use starpipe::model::Value;
use starpipe::schema::{StarRocksType, TableModel, TargetColumn, TargetTable};

/// Bytes of messages generated per format.
const CORPUS_BYTES: usize = 16 << 20;

// ---------------------------------------------------------------------------------------------
// Deterministic generation
// ---------------------------------------------------------------------------------------------

/// SplitMix64: tiny, deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next() as usize % items.len()]
    }
    /// True with probability `pct` %.
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "José",
    "Zoë",
    "Łukasz",
    "Søren",
    "François",
    "Anaïs",
    "Mohammed",
    "Wei",
    "李娜",
    "王伟",
    "さくら",
    "Дмитрий",
    "Olga",
    "Priya",
    "Chloé",
    "Björn",
    "Ana",
    "Kenji",
];
const LAST: &[&str] = &[
    "Smith",
    "Müller",
    "García",
    "Nowak",
    "Ólafsson",
    "Dubois",
    "Rossi",
    "张",
    "Иванов",
    "O'Brien",
    "Jensen",
    "Kowalski",
    "Yamamoto",
    "Silva",
    "Novák",
    "Schröder",
    "Lee",
    "Ng",
];
const STREETS: &[&str] = &[
    "Main Street",
    "Hauptstraße",
    "rue de l'Église",
    "Calle Mayor",
    "中山路",
    "Nevsky Prospekt",
    "Baker Street",
    "Via Roma",
    "Østergade",
    "Avenida Paulista",
];
const CITIES: &[&str] = &[
    "London",
    "München",
    "Paris",
    "Madrid",
    "上海",
    "Санкт-Петербург",
    "São Paulo",
    "Roma",
    "København",
    "New York",
    "Kraków",
    "東京",
];
const DOMAINS: &[&str] = &["example.com", "mail.test", "corp.example.org", "shop.test"];
const NOTES: &[&str] = &[
    "leave at the door",
    "gift wrap, please",
    "call before delivery 📦",
    "fragile — handle with care",
    "customer said \"urgent\"",
    "second attempt\nnobody home",
    "VIP",
    "",
];
const DEVICES: &[&str] = &["ios", "android", "web", "desktop", "tablet"];
const PAGES: &[&str] = &[
    "/",
    "/cart",
    "/checkout",
    "/product/12345",
    "/search?q=shoes",
    "/account/orders",
    "/help",
];

/// How a column's values are generated.
#[derive(Clone, Copy)]
enum Gen {
    /// The row id (key).
    Id,
    Int(u64, u64),
    /// DECIMAL(10,2) in `0.00..=max`.
    Money(u64),
    FirstName,
    LastName,
    Email,
    Phone,
    Address,
    City,
    Zip,
    Country,
    Sku,
    Currency,
    Enum(&'static [&'static str]),
    Device,
    Page,
    /// Nullable free text (40 % NULL).
    Note,
    /// Nullable text from a list (50 % NULL).
    Referrer,
    Uuid,
    DateTime,
    Ts3,
}

struct Col {
    name: &'static str,
    mysql: String,
    jdbc: i32,
    /// StarRocks column type of the target table.
    starrocks: &'static str,
    nullable: bool,
    generator: Gen,
}

struct Table {
    db: &'static str,
    name: &'static str,
    cols: Vec<Col>,
    next_id: u64,
}

fn col(name: &'static str, mysql: &str, starrocks: &'static str, generator: Gen) -> Col {
    let jdbc = match mysql.split('(').next().unwrap() {
        "bigint" => -5,
        "int" => 4,
        "tinyint" => -6,
        "decimal" => 3,
        "char" => 1,
        "datetime" | "timestamp" => 93,
        _ => 12,
    };
    Col {
        name,
        mysql: mysql.to_string(),
        jdbc,
        starrocks,
        nullable: matches!(generator, Gen::Note | Gen::Referrer),
        generator,
    }
}

const ORDER_STATUS: &[&str] = &["NEW", "PAID", "SHIPPED", "DONE", "CANCELLED"];
const CUSTOMER_STATUS: &[&str] = &["ACTIVE", "SUSPENDED", "CLOSED"];
const EVENT_KIND: &[&str] = &["view", "click", "add_to_cart", "purchase", "login"];

fn enum_type(labels: &[&str]) -> String {
    let quoted: Vec<String> = labels.iter().map(|l| format!("'{l}'")).collect();
    format!("enum({})", quoted.join(","))
}

fn tables() -> Vec<Table> {
    vec![
        Table {
            db: "shop",
            name: "orders",
            next_id: 1_000_000,
            cols: vec![
                col("id", "bigint(20)", "bigint", Gen::Id),
                col("user_id", "int(11)", "int", Gen::Int(1, 5_000_000)),
                col("shop_id", "int(11)", "int", Gen::Int(1, 20_000)),
                col("sku", "varchar(32)", "varchar(32)", Gen::Sku),
                col("qty", "int(11)", "int", Gen::Int(1, 20)),
                col(
                    "unit_price",
                    "decimal(10,2)",
                    "decimal(10,2)",
                    Gen::Money(2_000),
                ),
                col(
                    "amount",
                    "decimal(10,2)",
                    "decimal(10,2)",
                    Gen::Money(40_000),
                ),
                col("currency", "char(3)", "char(3)", Gen::Currency),
                col(
                    "status",
                    &enum_type(ORDER_STATUS),
                    "varchar(16)",
                    Gen::Enum(ORDER_STATUS),
                ),
                col("pay_channel", "tinyint(4)", "tinyint", Gen::Int(0, 9)),
                col(
                    "ship_address",
                    "varchar(255)",
                    "varchar(1024)",
                    Gen::Address,
                ),
                col("note", "varchar(255)", "varchar(1024)", Gen::Note),
                col("created_at", "datetime", "datetime", Gen::DateTime),
                col("updated_at", "timestamp(3)", "datetime", Gen::Ts3),
            ],
        },
        Table {
            db: "crm",
            name: "customers",
            next_id: 1,
            cols: vec![
                col("id", "bigint(20)", "bigint", Gen::Id),
                col("tenant_id", "int(11)", "int", Gen::Int(1, 500)),
                col("first_name", "varchar(64)", "varchar(256)", Gen::FirstName),
                col("last_name", "varchar(64)", "varchar(256)", Gen::LastName),
                col("email", "varchar(128)", "varchar(512)", Gen::Email),
                col("phone", "varchar(32)", "varchar(32)", Gen::Phone),
                col("country", "char(2)", "char(2)", Gen::Country),
                col("city", "varchar(64)", "varchar(256)", Gen::City),
                col("address", "varchar(255)", "varchar(1024)", Gen::Address),
                col("zip", "varchar(16)", "varchar(16)", Gen::Zip),
                col(
                    "balance",
                    "decimal(10,2)",
                    "decimal(10,2)",
                    Gen::Money(100_000),
                ),
                col(
                    "credit_limit",
                    "decimal(10,2)",
                    "decimal(10,2)",
                    Gen::Money(50_000),
                ),
                col("level", "tinyint(4)", "tinyint", Gen::Int(0, 5)),
                col(
                    "status",
                    &enum_type(CUSTOMER_STATUS),
                    "varchar(16)",
                    Gen::Enum(CUSTOMER_STATUS),
                ),
                col("note", "varchar(512)", "varchar(2048)", Gen::Note),
                col("last_login", "timestamp(3)", "datetime", Gen::Ts3),
                col("created_at", "datetime", "datetime", Gen::DateTime),
                col("updated_at", "timestamp(3)", "datetime", Gen::Ts3),
            ],
        },
        Table {
            db: "app",
            name: "events",
            next_id: 500_000_000,
            cols: vec![
                col("id", "bigint(20)", "bigint", Gen::Id),
                col("user_id", "bigint(20)", "bigint", Gen::Int(1, 5_000_000)),
                col("session_id", "varchar(36)", "varchar(36)", Gen::Uuid),
                col(
                    "kind",
                    &enum_type(EVENT_KIND),
                    "varchar(16)",
                    Gen::Enum(EVENT_KIND),
                ),
                col("page", "varchar(255)", "varchar(1024)", Gen::Page),
                col("referrer", "varchar(255)", "varchar(1024)", Gen::Referrer),
                col("duration_ms", "int(11)", "int", Gen::Int(0, 600_000)),
                col("score", "decimal(10,2)", "decimal(10,2)", Gen::Money(100)),
                col("device", "varchar(32)", "varchar(32)", Gen::Device),
                col("retries", "tinyint(4)", "tinyint", Gen::Int(0, 3)),
                col("created_at", "timestamp(3)", "datetime", Gen::Ts3),
                col("received_at", "timestamp(3)", "datetime", Gen::Ts3),
            ],
        },
    ]
}

/// One generated value: `None` is SQL NULL; text is unescaped.
fn gen_value(rng: &mut Rng, g: Gen, id: u64) -> Option<String> {
    let s = match g {
        Gen::Id => id.to_string(),
        Gen::Int(lo, hi) => rng.range(lo, hi).to_string(),
        Gen::Money(max) => {
            let cents = rng.range(0, max * 100);
            format!("{}.{:02}", cents / 100, cents % 100)
        }
        Gen::FirstName => rng.pick(FIRST).to_string(),
        Gen::LastName => rng.pick(LAST).to_string(),
        Gen::Email => format!(
            "user{}.{}@{}",
            rng.range(1, 9_999_999),
            rng.pick(&["a", "bb", "x_y", "info"]),
            rng.pick(DOMAINS)
        ),
        Gen::Phone => format!(
            "+{} {:03} {:04}",
            rng.range(1, 99),
            rng.range(0, 999),
            rng.range(0, 9999)
        ),
        Gen::Address => format!(
            "{} {}, {} {}, {}",
            rng.range(1, 999),
            rng.pick(STREETS),
            rng.range(10_000, 99_999),
            rng.pick(CITIES),
            rng.pick(&["Apt 4B", "2nd floor", "c/o Reception", "Gebäude 3", "no. 7"])
        ),
        Gen::City => rng.pick(CITIES).to_string(),
        Gen::Zip => format!("{:05}", rng.range(0, 99_999)),
        Gen::Country => rng
            .pick(&[
                "GB", "DE", "FR", "ES", "CN", "RU", "BR", "IT", "DK", "US", "PL", "JP",
            ])
            .to_string(),
        Gen::Sku => format!(
            "SKU-{:06}-{}",
            rng.range(0, 999_999),
            rng.pick(&["S", "M", "L"])
        ),
        Gen::Currency => rng.pick(&["EUR", "USD", "GBP", "CNY", "JPY"]).to_string(),
        Gen::Enum(labels) => rng.pick(labels).to_string(),
        Gen::Device => rng.pick(DEVICES).to_string(),
        Gen::Page => rng.pick(PAGES).to_string(),
        Gen::Note => {
            if rng.chance(40) {
                return None;
            }
            rng.pick(NOTES).to_string()
        }
        Gen::Referrer => {
            if rng.chance(50) {
                return None;
            }
            format!("https://{}{}", rng.pick(DOMAINS), rng.pick(PAGES))
        }
        Gen::Uuid => format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            rng.next() as u32,
            rng.next() as u16,
            rng.next() & 0xfff,
            rng.next() as u16,
            rng.next() & 0xffff_ffff_ffff
        ),
        Gen::DateTime | Gen::Ts3 => {
            // 2024-01-01 .. 2024-12-28, any time of day.
            let day = rng.range(0, 361);
            let (mut m, mut d) = (1, day);
            let lens = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            while d >= lens[m - 1] {
                d -= lens[m - 1];
                m += 1;
            }
            let secs = rng.range(0, 86_399);
            let mut s = format!(
                "2024-{m:02}-{:02} {:02}:{:02}:{:02}",
                d + 1,
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            );
            if matches!(g, Gen::Ts3) {
                let _ = write!(s, ".{:03}", rng.range(0, 999));
            }
            s
        }
    };
    Some(s)
}

fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

type RowImage = Vec<Option<String>>;

fn json_row(cols: &[Col], row: &RowImage, only: Option<&[usize]>, out: &mut String) {
    out.push('{');
    let mut first = true;
    for (i, c) in cols.iter().enumerate() {
        if only.is_some_and(|o| !o.contains(&i)) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        json_str(c.name, out);
        out.push(':');
        match &row[i] {
            Some(v) => json_str(v, out),
            None => out.push_str("null"),
        }
    }
    out.push('}');
}

fn json_types(cols: &[Col], out: &mut String) {
    out.push('{');
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(c.name, out);
        out.push(':');
        json_str(&c.mysql, out);
    }
    out.push('}');
}

fn json_jdbc(cols: &[Col], out: &mut String) {
    out.push('{');
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(c.name, out);
        let _ = write!(out, ":{}", c.jdbc);
    }
    out.push('}');
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Insert,
    Update,
    Delete,
}

/// One source event: a rows event of one table.
struct Event {
    table: usize,
    op: Op,
    /// After images (INSERT/UPDATE) or deleted rows (DELETE).
    rows: Vec<RowImage>,
    /// UPDATE: before images and the indexes of the changed columns.
    before: Vec<(RowImage, Vec<usize>)>,
    ts: u64,
}

fn gen_row(rng: &mut Rng, t: &Table, id: u64) -> RowImage {
    t.cols
        .iter()
        .map(|c| gen_value(rng, c.generator, id))
        .collect()
}

fn gen_event(rng: &mut Rng, tables: &mut [Table], ts: u64) -> Event {
    let ti = rng.range(0, tables.len() as u64 - 1) as usize;
    let p = rng.range(0, 99);
    let op = if p < 70 {
        Op::Insert
    } else if p < 95 {
        Op::Update
    } else {
        Op::Delete
    };
    let n = rng.range(1, 50) as usize;
    let t = &mut tables[ti];
    let mut rows = Vec::with_capacity(n);
    let mut before = Vec::new();
    for _ in 0..n {
        let id = if op == Op::Insert {
            t.next_id += 1;
            t.next_id
        } else {
            rng.range(1, t.next_id.max(2))
        };
        let row = gen_row(rng, t, id);
        if op == Op::Update {
            let k = rng.range(1, 3) as usize;
            let mut changed: Vec<usize> = Vec::with_capacity(k);
            while changed.len() < k {
                let c = rng.range(1, t.cols.len() as u64 - 1) as usize;
                if !changed.contains(&c) {
                    changed.push(c);
                }
            }
            changed.sort_unstable();
            let mut old = row.clone();
            for &c in &changed {
                old[c] = gen_value(rng, t.cols[c].generator, id);
            }
            before.push((old, changed));
        }
        rows.push(row);
    }
    Event {
        table: ti,
        op,
        rows,
        before,
        ts,
    }
}

fn canal_message(t: &Table, e: &Event, seq: u64) -> String {
    let mut s = String::with_capacity(1024);
    s.push_str("{\"data\":[");
    for (i, r) in e.rows.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        json_row(&t.cols, r, None, &mut s);
    }
    let _ = write!(
        s,
        "],\"database\":\"{}\",\"es\":{},\"gtid\":\"\",\"id\":{seq},\"isDdl\":false,\"mysqlType\":",
        t.db, e.ts
    );
    json_types(&t.cols, &mut s);
    s.push_str(",\"old\":");
    if e.op == Op::Update {
        s.push('[');
        for (i, (old, changed)) in e.before.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            json_row(&t.cols, old, Some(changed), &mut s);
        }
        s.push(']');
    } else {
        s.push_str("null");
    }
    s.push_str(",\"pkNames\":[\"id\"],\"sql\":\"\",\"sqlType\":");
    json_jdbc(&t.cols, &mut s);
    let ty = match e.op {
        Op::Insert => "INSERT",
        Op::Update => "UPDATE",
        Op::Delete => "DELETE",
    };
    let _ = write!(
        s,
        ",\"table\":\"{}\",\"ts\":{},\"type\":\"{ty}\"}}",
        t.name,
        e.ts + 345
    );
    s
}

fn cloudcanal_message(t: &Table, e: &Event, seq: u64) -> String {
    let mut s = String::with_capacity(1024);
    let action = match e.op {
        Op::Insert => "INSERT",
        Op::Update => "UPDATE",
        Op::Delete => "DELETE",
    };
    let _ = write!(s, "{{\"action\":\"{action}\",\"before\":[");
    for (i, (old, _)) in e.before.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        json_row(&t.cols, old, None, &mut s);
    }
    let _ = write!(s, "],\"bid\":{seq},\"data\":[");
    for (i, r) in e.rows.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        json_row(&t.cols, r, None, &mut s);
    }
    let _ = write!(s, "],\"db\":\"{}\",\"dbValType\":", t.db);
    json_types(&t.cols, &mut s);
    let _ = write!(
        s,
        ",\"entryType\":\"ROWDATA\",\"execTs\":{},\"isDdl\":false,\"jdbcType\":",
        e.ts
    );
    json_jdbc(&t.cols, &mut s);
    let _ = write!(
        s,
        ",\"pks\":[\"id\"],\"schema\":\"{}\",\"sendTs\":{},\"sql\":\"\",\"table\":\"{}\"}}",
        t.db,
        e.ts + 377,
        t.name
    );
    s
}

struct Corpus {
    format: Format,
    messages: Vec<Vec<u8>>,
    bytes: u64,
    /// Source rows (`data` entries).
    rows: u64,
    /// Row changes the decoder yields.
    changes: u64,
}

/// Both corpora from one event stream, until each format has `CORPUS_BYTES`.
fn corpora() -> (Vec<Table>, Vec<Corpus>) {
    let mut rng = Rng(0x5EED_CDC0_2024);
    let mut tables = tables();
    let mut canal = Corpus {
        format: Format::Canal,
        messages: Vec::new(),
        bytes: 0,
        rows: 0,
        changes: 0,
    };
    let mut cloud = Corpus {
        format: Format::CloudCanal,
        messages: Vec::new(),
        bytes: 0,
        rows: 0,
        changes: 0,
    };
    let mut ts = 1_717_200_000_000u64;
    let mut seq = 0;
    while (canal.bytes as usize) < CORPUS_BYTES || (cloud.bytes as usize) < CORPUS_BYTES {
        ts += rng.range(0, 50);
        seq += 1;
        let e = gen_event(&mut rng, &mut tables, ts);
        let t = &tables[e.table];
        for (c, msg) in [
            (&mut canal, canal_message(t, &e, seq)),
            (&mut cloud, cloudcanal_message(t, &e, seq)),
        ] {
            if (c.bytes as usize) < CORPUS_BYTES {
                c.bytes += msg.len() as u64;
                c.rows += e.rows.len() as u64;
                c.messages.push(msg.into_bytes());
            }
        }
    }
    (tables, vec![canal, cloud])
}

fn target_table(t: &Table) -> TargetTable {
    let cols = t
        .cols
        .iter()
        .map(|c| {
            TargetColumn::new(
                c.name,
                StarRocksType::parse(c.starrocks).expect("StarRocks type"),
                c.nullable,
                c.name == "id",
            )
        })
        .collect();
    TargetTable::new(t.db, t.name, cols, TableModel::PrimaryKeys).expect("target table")
}

// ---------------------------------------------------------------------------------------------
// Workloads (one call = one pass over the corpus)
// ---------------------------------------------------------------------------------------------

/// Decodes every message and touches every value; returns the number of changes.
fn run_decode(dec: &mut Decoder, msgs: &[Vec<u8>], buf: &mut Vec<u8>) -> u64 {
    let mut changes = 0u64;
    let mut sum = 0usize;
    for m in msgs {
        buf.clear();
        buf.extend_from_slice(m);
        match dec.decode(buf, &MessageKeys) {
            Ok(Decoded::Rows(batch)) => {
                for ch in batch.changes() {
                    changes += 1;
                    for col in ch.row.columns() {
                        sum += match col.value {
                            Value::Null => 1,
                            Value::Text(s) => s.len(),
                            Value::Bytes(b) => b.len(),
                        };
                    }
                }
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => panic!("decode failed: {e}"),
        }
    }
    black_box(sum);
    changes
}

/// Per-table encoder state, reused across iterations.
struct Sink {
    db: &'static str,
    table: &'static str,
    enc: BodyEncoder,
    spare: Option<EncodedBlock>,
    body: Vec<u8>,
}

/// Decodes and encodes every change, then builds one body per table (bodies cleared first).
fn run_decode_encode(
    dec: &mut Decoder,
    msgs: &[Vec<u8>],
    buf: &mut Vec<u8>,
    sinks: &mut [Sink],
) -> u64 {
    let mut changes = 0u64;
    for m in msgs {
        buf.clear();
        buf.extend_from_slice(m);
        let Ok(Decoded::Rows(batch)) = dec.decode(buf, &MessageKeys) else {
            panic!("decode failed");
        };
        let sink = sinks
            .iter_mut()
            .find(|s| s.table == batch.table.table && s.db == batch.table.db)
            .expect("known table");
        for ch in batch.changes() {
            sink.enc
                .push_row(ch.op, ch.row.columns())
                .expect("encode failed");
            changes += 1;
        }
    }
    let mut bytes = 0;
    for s in sinks.iter_mut() {
        let block = s.enc.take_block(s.spare.take());
        // As a flusher loads a batch: its CSV rows in one body, its JSON rows in another.
        let json_rows = block.json_rows();
        for format in [BodyFormat::Csv, BodyFormat::Json] {
            if format == BodyFormat::Json && json_rows == 0 {
                break;
            }
            let mut builder = s
                .enc
                .body_builder(format)
                .expect("body builder")
                .with_buffer(std::mem::take(&mut s.body));
            builder.push_part(&block).expect("push part");
            s.body = builder.finish();
            bytes += s.body.len();
        }
        s.spare = Some(block);
    }
    black_box(bytes);
    changes
}

fn run_simd_json(msgs: &[Vec<u8>], buf: &mut Vec<u8>) -> u64 {
    let mut n = 0u64;
    for m in msgs {
        buf.clear();
        buf.extend_from_slice(m);
        let v = simd_json::to_borrowed_value(buf).expect("simd-json");
        black_box(&v);
        n += 1;
    }
    n
}

/// simd-json's stage 1 and 2 only, padded in place as the decoder pads its input (the tape the
/// decoder reads): the floor under `decode`.
fn run_simd_json_tape(msgs: &[Vec<u8>], buf: &mut Vec<u8>) -> u64 {
    let mut buffers = simd_json::Buffers::new(4096);
    // The tape's buffer is reused as the decoder reuses it (`reset` ends the input borrow).
    let mut spare = simd_json::Tape::null().reset();
    let mut n = 0u64;
    for m in msgs {
        buf.clear();
        buf.extend_from_slice(m);
        buf.resize(m.len() + simd_json::INPUT_PADDING, b' ');
        let mut tape = spare.reset();
        simd_json::fill_tape_padded(buf, m.len(), &mut buffers, &mut tape).expect("simd-json");
        black_box(&tape);
        spare = tape.reset();
        n += 1;
    }
    n
}

fn run_serde_json(msgs: &[Vec<u8>], buf: &mut Vec<u8>) -> u64 {
    let mut n = 0u64;
    for m in msgs {
        buf.clear();
        buf.extend_from_slice(m);
        let v: serde_json::Value = serde_json::from_slice(buf).expect("serde_json");
        black_box(&v);
        n += 1;
    }
    n
}

// ---------------------------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------------------------

/// Mean time per pass, from every `iter_custom` call (warm-up included).
#[derive(Default)]
struct Timing {
    iters: u64,
    total: Duration,
}

struct Measured {
    format: Format,
    name: &'static str,
    bytes: u64,
    rows: u64,
    per_pass: Duration,
}

fn timed(b: &mut Bencher<'_>, timing: &RefCell<Timing>, mut pass: impl FnMut() -> u64) {
    b.iter_custom(|iters| {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(pass());
        }
        let d = start.elapsed();
        let mut t = timing.borrow_mut();
        t.iters += iters;
        t.total += d;
        d
    });
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Canal => "canal",
        Format::CloudCanal => "cloudcanal",
    }
}

fn bench_corpus(c: &mut Criterion, tables: &[Table], corpus: &Corpus, results: &mut Vec<Measured>) {
    let fname = format_name(corpus.format);
    let mut group = c.benchmark_group(fname);
    // `perf/run --quick` asks for a short smoke measurement.
    let quick = std::env::var_os("STARPIPE_BENCH_QUICK").is_some();
    let (warm_up, measure) = if quick { (0.5, 1.5) } else { (2.0, 5.0) };
    group
        .throughput(Throughput::Bytes(corpus.bytes))
        .sample_size(10)
        .warm_up_time(Duration::from_secs_f64(warm_up))
        .measurement_time(Duration::from_secs_f64(measure));
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut dec = Decoder::new(DecodeOptions::new(corpus.format));
    let mut sinks = sinks(tables);

    let mut record = |name: &'static str, timing: RefCell<Timing>| {
        let t = timing.into_inner();
        if t.iters == 0 {
            return; // filtered out
        }
        results.push(Measured {
            format: corpus.format,
            name,
            bytes: corpus.bytes,
            rows: corpus.rows,
            per_pass: t.total / t.iters.max(1) as u32,
        });
    };

    let timing = RefCell::new(Timing::default());
    group.bench_function("decode", |b| {
        timed(b, &timing, || {
            run_decode(&mut dec, &corpus.messages, &mut buf)
        })
    });
    record("decode", timing);

    let timing = RefCell::new(Timing::default());
    group.bench_function("decode+encode", |b| {
        timed(b, &timing, || {
            run_decode_encode(&mut dec, &corpus.messages, &mut buf, &mut sinks)
        })
    });
    record("decode+encode", timing);

    let timing = RefCell::new(Timing::default());
    group.bench_function("simd_json", |b| {
        timed(b, &timing, || run_simd_json(&corpus.messages, &mut buf))
    });
    record("simd_json", timing);

    let timing = RefCell::new(Timing::default());
    group.bench_function("simd_json_tape", |b| {
        timed(b, &timing, || {
            run_simd_json_tape(&corpus.messages, &mut buf)
        })
    });
    record("simd_json_tape", timing);

    let timing = RefCell::new(Timing::default());
    group.bench_function("serde_json", |b| {
        timed(b, &timing, || run_serde_json(&corpus.messages, &mut buf))
    });
    record("serde_json", timing);
    group.finish();
}

fn summary(corpora: &[Corpus], results: &[Measured]) {
    println!("\n== decode bench summary (mean over all timed passes) ==");
    for c in corpora {
        println!(
            "{:<10} corpus: {} messages, {:.1} MB, {} source rows, {} changes, {:.0} B/row",
            format_name(c.format),
            c.messages.len(),
            c.bytes as f64 / 1e6,
            c.rows,
            c.changes,
            c.bytes as f64 / c.rows as f64
        );
    }
    println!(
        "{:<10} {:<14} {:>10} {:>10} {:>12}",
        "format", "bench", "ms/pass", "MB/s", "rows/s"
    );
    for r in results {
        let s = r.per_pass.as_secs_f64();
        println!(
            "{:<10} {:<14} {:>10.2} {:>10.1} {:>12.0}",
            format_name(r.format),
            r.name,
            s * 1e3,
            r.bytes as f64 / s / 1e6,
            r.rows as f64 / s
        );
    }
    for f in [Format::Canal, Format::CloudCanal] {
        let get = |n: &str| {
            results
                .iter()
                .find(|r| r.format == f && r.name == n)
                .map(|r| r.per_pass.as_secs_f64())
        };
        if let (Some(de), Some(simd), Some(serde)) =
            (get("decode+encode"), get("simd_json"), get("serde_json"))
        {
            println!(
                "{:<10} decode+encode / simd_json = {:.2} (goal ≥ 0.8), decode+encode / serde_json = {:.2} (goal ≥ 2)",
                format_name(f),
                simd / de,
                serde / de
            );
        }
    }
}

/// One sink per table: its encoder and reused buffers.
fn sinks(tables: &[Table]) -> Vec<Sink> {
    tables
        .iter()
        .map(|t| Sink {
            db: t.db,
            table: t.name,
            enc: BodyEncoder::new(&target_table(t)).expect("encoder"),
            spare: None,
            body: Vec::new(),
        })
        .collect()
}

fn profile_passes(tables: &[Table], corpora: &[Corpus], passes: u32) {
    for c in corpora {
        let mut dec = Decoder::new(DecodeOptions::new(c.format));
        let mut buf = Vec::new();
        let mut sinks = sinks(tables);
        let start = Instant::now();
        for _ in 0..passes {
            run_decode_encode(&mut dec, &c.messages, &mut buf, &mut sinks);
        }
        let per_pass = start.elapsed() / passes.max(1);
        println!(
            "{:<10} decode+encode {:.2} ms/pass",
            format_name(c.format),
            per_pass.as_secs_f64() * 1e3
        );
    }
}

/// Decode+encode against simd-json, a pass of each in turn, `rounds` times per format: the
/// fastest pass of each and their ratio. A pass slowed by another process on the machine slows
/// one side only, so the minimum of alternated passes gives a steadier ratio than two separate
/// means when the machine is not quiet.
fn ratio_rounds(tables: &[Table], corpora: &[Corpus], rounds: u32) {
    for c in corpora {
        let mut dec = Decoder::new(DecodeOptions::new(c.format));
        let mut buf = Vec::new();
        let mut sinks = sinks(tables);
        let (mut ours, mut simd) = (Duration::MAX, Duration::MAX);
        for _ in 0..rounds {
            let start = Instant::now();
            black_box(run_simd_json(&c.messages, &mut buf));
            simd = simd.min(start.elapsed());
            let start = Instant::now();
            black_box(run_decode_encode(
                &mut dec,
                &c.messages,
                &mut buf,
                &mut sinks,
            ));
            ours = ours.min(start.elapsed());
        }
        let mb_s = |d: Duration| c.bytes as f64 / 1e6 / d.as_secs_f64();
        println!(
            "{:<10} fastest of {rounds}: decode+encode {:.0} MB/s, simd_json {:.0} MB/s, ratio {:.3}",
            format_name(c.format),
            mb_s(ours),
            mb_s(simd),
            simd.as_secs_f64() / ours.as_secs_f64()
        );
    }
}

/// The count in environment variable `name`, when set to one.
fn env_count(name: &str) -> Option<u32> {
    std::env::var(name).ok().and_then(|n| n.parse().ok())
}

fn main() {
    let (tables, mut corpora) = corpora();
    // Sanity: every message decodes and encodes; count the changes once.
    for c in &mut corpora {
        let mut dec = Decoder::new(DecodeOptions::new(c.format));
        let mut buf = Vec::new();
        c.changes = run_decode(&mut dec, &c.messages, &mut buf);
        let mut sinks = sinks(&tables);
        let n = run_decode_encode(&mut dec, &c.messages, &mut buf, &mut sinks);
        assert_eq!(n, c.changes);
    }

    // `STARPIPE_BENCH_PASSES=N`: N passes of decode+encode per format and nothing else, for
    // `perf stat` / `perf record` (criterion's own analysis would share the profile).
    if let Some(passes) = env_count("STARPIPE_BENCH_PASSES") {
        profile_passes(&tables, &corpora, passes);
        return;
    }
    // `STARPIPE_BENCH_RATIO=N`: N alternated rounds of decode+encode and simd-json per format.
    if let Some(rounds) = env_count("STARPIPE_BENCH_RATIO") {
        ratio_rounds(&tables, &corpora, rounds);
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    let mut results = Vec::new();
    for c in &corpora {
        bench_corpus(&mut criterion, &tables, c, &mut results);
    }
    criterion.final_summary();
    summary(&corpora, &results);
}
