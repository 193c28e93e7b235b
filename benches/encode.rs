//! Encoding throughput for a 15-column OLTP row: rows/s and MB/s of body produced.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use starpipe::encode::{BodyBuilder, BodyEncoder, BodyFormat};
use starpipe::model::{ChangeOp, Column, Value, ValueKind};
use starpipe::schema::{StarRocksType, TableModel, TargetColumn, TargetTable};

const ROWS: usize = 10_000;

fn table() -> TargetTable {
    let c = |name: &str, ty: &str, nullable: bool, key: bool| {
        TargetColumn::new(name, StarRocksType::parse(ty).unwrap(), nullable, key)
    };
    TargetTable::new(
        "shop",
        "orders",
        vec![
            c("id", "bigint(20)", false, true),
            c("tenant_id", "int(11)", false, true),
            c("user_id", "bigint(20)", false, false),
            c("status", "varchar(64)", false, false),
            c("amount", "decimal(18,2)", true, false),
            c("currency", "char(12)", true, false),
            c("qty", "int(11)", true, false),
            c("discount", "decimal(10,4)", true, false),
            c("is_gift", "boolean", true, false),
            c("score", "double", true, false),
            c("note", "varchar(1024)", true, false),
            c("email", "varchar(512)", true, false),
            c("attrs", "json", true, false),
            c("created_at", "datetime", false, false),
            c("updated_at", "datetime", true, false),
        ],
        TableModel::PrimaryKeys,
    )
    .unwrap()
}

/// Row texts as a decoder would hand them over (owned here, borrowed per push).
fn rows() -> Vec<[String; 15]> {
    (0..ROWS)
        .map(|i| {
            [
                (1_000_000 + i).to_string(),
                (i % 97).to_string(),
                (i * 7919 % 1_000_003).to_string(),
                ["NEW", "PAID", "SHIPPED", "CANCELLED"][i % 4].to_string(),
                format!("{}.{:02}", i % 100_000, i % 100),
                "EUR".to_string(),
                (i % 13 + 1).to_string(),
                "0.1250".to_string(),
                (i % 2).to_string(),
                format!("{}.5E-3", i % 1000),
                format!("order note {i}: leave at the door, ring twice — 谢谢"),
                format!("user{i}@example.com"),
                format!("{{\"src\": \"web\", \"n\": {i}, \"tags\": [\"a\", \"b\"]}}"),
                format!("2024-06-01 10:{:02}:{:02}", i / 60 % 60, i % 60),
                format!("2024-06-01 11:{:02}:{:02}.{:06}", i / 60 % 60, i % 60, i),
            ]
        })
        .collect()
}

const NAMES: [&str; 15] = [
    "id",
    "tenant_id",
    "user_id",
    "status",
    "amount",
    "currency",
    "qty",
    "discount",
    "is_gift",
    "score",
    "note",
    "email",
    "attrs",
    "created_at",
    "updated_at",
];
const KINDS: [ValueKind; 15] = [
    ValueKind::Integer,
    ValueKind::Integer,
    ValueKind::Integer,
    ValueKind::Text,
    ValueKind::Decimal,
    ValueKind::Text,
    ValueKind::Integer,
    ValueKind::Decimal,
    ValueKind::Integer,
    ValueKind::Float,
    ValueKind::Text,
    ValueKind::Text,
    ValueKind::Json,
    ValueKind::DateTime,
    ValueKind::DateTime,
];

fn encode_all(enc: &mut BodyEncoder, rows: &[[String; 15]]) {
    for r in rows {
        let cols = (0..15).map(|j| Column {
            name: NAMES[j],
            kind: KINDS[j],
            value: Value::Text(&r[j]),
        });
        black_box(enc.push_row(ChangeOp::Upsert, cols).unwrap());
    }
}

fn bench(c: &mut Criterion) {
    let table = table();
    let rows = rows();
    let mut enc = BodyEncoder::new(&table).unwrap();
    encode_all(&mut enc, &rows);
    let block = enc.take_block(None);
    let csv_bytes = block.data().len() as u64;
    let mut json_enc = BodyEncoder::new(&table).unwrap();
    // Every row holds a value unquoted CSV cannot frame, so every row is JSON.
    let mut hard = rows.clone();
    for row in &mut hard {
        row[10] = "\u{1}".to_string();
    }
    encode_all(&mut json_enc, &hard);
    let json_block = json_enc.take_block(None);
    let json_bytes = json_block.data().len() as u64;

    let mut g = c.benchmark_group("encode_15_columns");
    g.throughput(Throughput::Elements(ROWS as u64));
    let mut spare = Some(block.clone());
    g.bench_function("csv_rows", |b| {
        b.iter(|| {
            encode_all(&mut enc, &rows);
            spare = Some(enc.take_block(spare.take()));
        })
    });
    g.bench_function("json_fallback_rows", |b| {
        b.iter(|| {
            encode_all(&mut json_enc, &hard);
            spare = Some(json_enc.take_block(spare.take()));
        })
    });
    g.throughput(Throughput::Bytes(csv_bytes));
    g.bench_function("csv_bytes", |b| {
        b.iter(|| {
            encode_all(&mut enc, &rows);
            spare = Some(enc.take_block(spare.take()));
        })
    });
    g.throughput(Throughput::Bytes(json_bytes));
    g.bench_function("json_fallback_bytes", |b| {
        b.iter(|| {
            encode_all(&mut json_enc, &hard);
            spare = Some(json_enc.take_block(spare.take()));
        })
    });
    g.finish();

    let mut g = c.benchmark_group("body_15_columns");
    g.throughput(Throughput::Bytes(csv_bytes));
    g.bench_function("csv_body_from_spans", |b| {
        b.iter(|| {
            let mut body = BodyBuilder::new(&table, BodyFormat::Csv).unwrap();
            for span in block.rows() {
                body.push_span(&block, span).unwrap();
            }
            black_box(body.finish())
        })
    });
    g.bench_function("csv_rows_transcoded_to_json_body", |b| {
        b.iter(|| {
            let mut body = BodyBuilder::new(&table, BodyFormat::Json).unwrap();
            body.push_block(&block).unwrap();
            black_box(body.finish())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
