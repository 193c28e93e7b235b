use super::*;
use crate::model::{Value, ValueKind};
use crate::schema::{StarRocksType, TargetColumn};

fn col(name: &str, ty: &str, nullable: bool, key: bool) -> TargetColumn {
    TargetColumn::new(name, StarRocksType::parse(ty).unwrap(), nullable, key)
}

fn orders() -> TargetTable {
    TargetTable::new(
        "shop",
        "orders",
        vec![
            col("id", "bigint(20)", false, true),
            col("status", "varchar(16)", false, false),
            col("amount", "decimal(10,2)", true, false),
            col("created_at", "datetime", false, false),
            col("attrs", "json", true, false),
        ],
        TableModel::PrimaryKeys,
    )
    .unwrap()
}

fn c<'a>(name: &'a str, kind: ValueKind, v: &'a str) -> Column<'a> {
    Column {
        name,
        kind,
        value: Value::Text(v),
    }
}

fn n(name: &str) -> Column<'_> {
    Column {
        name,
        kind: ValueKind::Text,
        value: Value::Null,
    }
}

fn order_row<'a>(id: &'a str, status: &'a str) -> Vec<Column<'a>> {
    vec![
        c("id", ValueKind::Integer, id),
        c("status", ValueKind::Text, status),
        c("amount", ValueKind::Decimal, "99.90"),
        c("created_at", ValueKind::DateTime, "2024-06-01 10:00:00"),
        n("attrs"),
    ]
}

#[test]
fn csv_row_bytes_and_headers() {
    let mut enc = BodyEncoder::new(&orders()).unwrap();
    let span = enc
        .push_row(ChangeOp::Upsert, order_row("1001", "NEW"))
        .unwrap();
    assert_eq!(
        enc.block().row_bytes(&span),
        b"1001\x01NEW\x0199.90\x012024-06-01 10:00:00\x01\\N\x010\x02"
    );
    assert_eq!(enc.block().format(), BodyFormat::Csv);
    let h = enc.headers(BodyFormat::Csv);
    let get = |k: &str| h.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("format"), Some("csv"));
    assert_eq!(get("column_separator"), Some("\\x01"));
    assert_eq!(get("row_delimiter"), Some("\\x02"));
    assert_eq!(
        get("columns"),
        Some("`id`,`status`,`amount`,`created_at`,`attrs`,__op")
    );
    assert_eq!(get("strict_mode"), Some("true"));
    assert_eq!(get("enclose"), None);
    let h = enc.headers(BodyFormat::Json);
    let get = |k: &str| h.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("format"), Some("json"));
    assert_eq!(get("strip_outer_array"), Some("true"));
    assert_eq!(get("ignore_json_size"), Some("true"));
    assert_eq!(get("column_separator"), None);
}

#[test]
fn columns_header_quotes_every_identifier() {
    let t = TargetTable::new(
        "Shop-EU",
        "Order Items",
        vec![
            col("Order-ID", "bigint", false, true),
            col("行号", "int", false, true),
            col("with space", "varchar(8)", true, false),
            col("back`tick", "varchar(8)", true, false),
            col("create", "int", true, false),
        ],
        TableModel::PrimaryKeys,
    )
    .unwrap();
    assert_eq!(
        columns_header(&t),
        "`Order-ID`,`行号`,`with space`,`back``tick`,`create`,__op"
    );
}

#[test]
fn json_rows_and_body() {
    let mut enc = BodyEncoder::new(&orders()).unwrap();
    enc.push_row(ChangeOp::Upsert, order_row("1", "a")).unwrap();
    // A separator byte in text makes that row JSON; the rows around it stay CSV.
    let span = enc
        .push_row(ChangeOp::Upsert, order_row("2", "x\u{1}y"))
        .unwrap();
    assert_eq!(enc.block().format(), BodyFormat::Json);
    assert_eq!(
        enc.block().row_bytes(&span),
        br#"{"id":2,"status":"x\u0001y","amount":"99.90","created_at":"2024-06-01 10:00:00","attrs":null,"__op":0}"#
    );
    enc.push_row(ChangeOp::Delete, [c("id", ValueKind::Integer, "3")])
        .unwrap();
    let block = enc.take_block(None);
    let formats: Vec<BodyFormat> = block.rows().iter().map(|r| r.format).collect();
    use BodyFormat::{Csv, Json};
    assert_eq!(formats, [Csv, Json, Csv]);
    assert_eq!(block.json_rows(), 1);
    // A JSON body transcodes the CSV rows.
    let mut b = BodyBuilder::new(&orders(), BodyFormat::Json).unwrap();
    b.push_block(&block).unwrap();
    let body = b.finish();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v,
        serde_json::json!([
            {"id":1,"status":"a","amount":"99.90","created_at":"2024-06-01 10:00:00","attrs":null,"__op":0},
            {"id":2,"status":"x\u{1}y","amount":"99.90","created_at":"2024-06-01 10:00:00","attrs":null,"__op":0},
            {"id":3,"status":"","amount":null,"created_at":"1970-01-01 00:00:00","attrs":null,"__op":1},
        ])
    );
    // The next block starts without JSON rows.
    assert_eq!(enc.block().format(), BodyFormat::Csv);
}

#[test]
fn a_json_null_document_and_a_hard_value_share_a_block_in_two_bodies() {
    let mut enc = BodyEncoder::new(&orders()).unwrap();
    let mut with_null_doc = order_row("1", "a");
    with_null_doc[4] = c("attrs", ValueKind::Json, "null");
    // A JSON body would load this JSON `null` document as SQL NULL: the row can only be CSV.
    enc.push_row(ChangeOp::Upsert, with_null_doc.clone())
        .unwrap();
    // This one can only be JSON; each loads in a body of its own format.
    enc.push_row(ChangeOp::Upsert, order_row("2", "\\N"))
        .unwrap();
    let block = enc.take_block(None);
    for (row, format) in block.rows().iter().zip([BodyFormat::Csv, BodyFormat::Json]) {
        assert_eq!(row.format, format);
        let mut body = BodyBuilder::new(&orders(), format).unwrap();
        body.push_span(&block, row).unwrap();
    }
    // One JSON body for both would change the document: refused, not transcoded.
    let mut json = BodyBuilder::new(&orders(), BodyFormat::Json).unwrap();
    assert!(matches!(
        json.push_block(&block),
        Err(EncodeError::Unrepresentable { ref column, .. }) if column == "attrs"
    ));
    // A row needing JSON for one value and CSV for another has no body at all.
    with_null_doc[1] = c("status", ValueKind::Text, "\\N");
    let err = enc.push_row(ChangeOp::Upsert, with_null_doc).unwrap_err();
    assert!(matches!(err, EncodeError::Unrepresentable { ref column, .. } if column == "attrs"));
    assert!(enc.block().is_empty());
}

#[test]
fn a_part_holds_the_rows_of_its_bodys_format() {
    let mut enc = BodyEncoder::new(&orders()).unwrap();
    for (id, status) in [("1", "a"), ("2", "\\N"), ("3", "c")] {
        enc.push_row(ChangeOp::Upsert, order_row(id, status))
            .unwrap();
    }
    let block = enc.take_block(None);
    let mut csv = BodyBuilder::new(&orders(), BodyFormat::Csv).unwrap();
    csv.push_part(&block).unwrap();
    let csv = printable_csv_row(&csv.finish());
    assert!(csv.starts_with("1|a|") && csv.contains("⏎3|c|"), "{csv}");
    assert_eq!(csv.matches('⏎').count(), 2);
    let mut json = BodyBuilder::new(&orders(), BodyFormat::Json).unwrap();
    json.push_part(&block).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.finish()).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(v[0]["status"], "\\N");
}

#[test]
fn truncating_rows_forgets_their_json_rows() {
    let mut enc = BodyEncoder::new(&orders()).unwrap();
    enc.push_row(ChangeOp::Upsert, order_row("1", "a")).unwrap();
    let kept = enc.block().data().len();
    enc.push_row(ChangeOp::Upsert, order_row("2", "\\N"))
        .unwrap();
    enc.push_row(ChangeOp::Upsert, order_row("3", "c")).unwrap();
    assert_eq!((enc.block().len(), enc.block().json_rows()), (3, 1));
    enc.truncate_rows(1);
    assert_eq!((enc.block().len(), enc.block().json_rows()), (1, 0));
    assert_eq!(enc.block().data().len(), kept);
    assert_eq!(enc.block().format(), BodyFormat::Csv);
}

#[test]
fn literal_backslash_n_is_not_null() {
    let mut enc = BodyEncoder::new(&orders()).unwrap();
    enc.push_row(ChangeOp::Upsert, order_row("1", "\\N"))
        .unwrap();
    assert_eq!(enc.block().format(), BodyFormat::Json);
    // Only the exact two bytes collide with NULL.
    let mut enc = BodyEncoder::new(&orders()).unwrap();
    enc.push_row(ChangeOp::Upsert, order_row("1", "\\N "))
        .unwrap();
    enc.push_row(ChangeOp::Upsert, order_row("2", "\\\\N"))
        .unwrap();
    assert_eq!(enc.block().format(), BodyFormat::Csv);
}

#[test]
fn mixed_blocks_make_a_json_body() {
    let mut a = BodyEncoder::new(&orders()).unwrap();
    let mut b = BodyEncoder::new(&orders()).unwrap();
    a.push_row(ChangeOp::Upsert, order_row("1", "plain"))
        .unwrap();
    b.push_row(ChangeOp::Upsert, order_row("2", "x\u{2}"))
        .unwrap();
    let (ba, bb) = (a.take_block(None), b.take_block(None));
    // A body holding a JSON row is JSON.
    assert_eq!(
        (ba.format(), bb.format()),
        (BodyFormat::Csv, BodyFormat::Json)
    );
    let format = BodyFormat::Json;
    let mut body = a.body_builder(format).unwrap();
    body.push_span(&ba, &ba.rows()[0]).unwrap();
    body.push_span(&bb, &bb.rows()[0]).unwrap();
    assert_eq!(body.rows(), 2);
    let v: serde_json::Value = serde_json::from_slice(&body.finish()).unwrap();
    assert_eq!(v[0]["status"], "plain");
    assert_eq!(v[1]["status"], "x\u{2}");
    // JSON rows cannot go into a CSV body.
    let mut csv = BodyBuilder::new(&orders(), BodyFormat::Csv).unwrap();
    assert_eq!(
        csv.push_span(&bb, &bb.rows()[0]),
        Err(EncodeError::FormatMismatch)
    );
    assert_eq!(
        BodyBuilder::new(&orders(), BodyFormat::Json)
            .unwrap()
            .finish(),
        b"[]"
    );
}

#[test]
fn partial_rows_missing_keys_duplicates() {
    let mut enc = BodyEncoder::new(&orders()).unwrap();
    let err = enc
        .push_row(
            ChangeOp::Upsert,
            [
                c("id", ValueKind::Integer, "1"),
                c("status", ValueKind::Text, "x"),
            ],
        )
        .unwrap_err();
    assert_eq!(
        err,
        EncodeError::PartialRow {
            table: "shop.orders".into(),
            missing: vec!["amount".into(), "created_at".into(), "attrs".into()],
            present: vec!["id".into(), "status".into()],
        }
    );
    let err = enc
        .push_row(ChangeOp::Delete, [c("status", ValueKind::Text, "x")])
        .unwrap_err();
    assert_eq!(
        err,
        EncodeError::MissingKey {
            table: "shop.orders".into(),
            column: "id".into()
        }
    );
    let mut row = order_row("1", "x");
    row.push(c("ID", ValueKind::Integer, "2"));
    assert!(matches!(
        enc.push_row(ChangeOp::Upsert, row),
        Err(EncodeError::DuplicateColumn { .. })
    ));
    assert!(enc.block().is_empty());
}

#[test]
fn null_rules() {
    let mut enc = BodyEncoder::new(&orders()).unwrap();
    let mut row = order_row("1", "x");
    row[0] = n("id");
    let err = enc.push_row(ChangeOp::Upsert, row).unwrap_err();
    assert!(
        matches!(err, EncodeError::Value { ref column, .. } if column == "id"),
        "{err}"
    );
    let err = enc.push_row(ChangeOp::Delete, [n("id")]).unwrap_err();
    assert!(
        matches!(err, EncodeError::Value { ref column, .. } if column == "id"),
        "{err}"
    );
    let mut row = order_row("1", "x");
    row[1] = n("status");
    let err = enc.push_row(ChangeOp::Upsert, row).unwrap_err();
    assert!(
        matches!(err, EncodeError::Value { ref column, .. } if column == "status"),
        "{err}"
    );
    // NULL in a nullable column is fine.
    let mut row = order_row("1", "x");
    row[2] = n("amount");
    enc.push_row(ChangeOp::Upsert, row).unwrap();
}

#[test]
fn deletes_ignore_non_key_values() {
    let mut enc = BodyEncoder::new(&orders()).unwrap();
    // A before image with values that would not even load: only the key matters.
    let span = enc
        .push_row(
            ChangeOp::Delete,
            [
                c("status", ValueKind::Text, "far too long for varchar(16)"),
                c("id", ValueKind::Integer, "7"),
                c("created_at", ValueKind::DateTime, "0000-00-00 00:00:00"),
            ],
        )
        .unwrap();
    assert_eq!(
        enc.block().row_bytes(&span),
        b"7\x01\x01\\N\x011970-01-01 00:00:00\x01\\N\x011\x02"
    );
    assert_eq!(span.op, ChangeOp::Delete);
}

#[test]
fn value_errors_name_the_column_and_leave_the_block_alone() {
    let mut enc = BodyEncoder::new(&orders()).unwrap();
    enc.push_row(ChangeOp::Upsert, order_row("1", "ok"))
        .unwrap();
    let before = enc.block().data().to_vec();
    let err = enc
        .push_row(ChangeOp::Upsert, order_row("1", "seventeen bytes!!"))
        .unwrap_err();
    match err {
        EncodeError::Value {
            table,
            column,
            reason,
        } => {
            assert_eq!(table, "shop.orders");
            assert_eq!(column, "status");
            assert!(reason.contains("17 bytes"), "{reason}");
        }
        e => panic!("{e}"),
    }
    let mut row = order_row("99999999999999999999", "x");
    let err = enc.push_row(ChangeOp::Upsert, row.clone()).unwrap_err();
    assert!(matches!(err, EncodeError::Value { ref column, .. } if column == "id"));
    row[0] = c("id", ValueKind::Integer, "1");
    row[2] = c("amount", ValueKind::Decimal, "1.005");
    let err = enc.push_row(ChangeOp::Upsert, row.clone()).unwrap_err();
    assert!(matches!(err, EncodeError::Value { ref column, .. } if column == "amount"));
    row[2] = c("amount", ValueKind::Decimal, "1.00");
    row[4] = c("attrs", ValueKind::Json, "JSON_REPLACE(attrs, '$.a', 7)");
    let err = enc.push_row(ChangeOp::Upsert, row.clone()).unwrap_err();
    assert!(matches!(err, EncodeError::Value { ref column, .. } if column == "attrs"));
    // A value error after a hard value: still nothing written, still CSV.
    row[1] = c("status", ValueKind::Text, "\u{1}");
    let err = enc.push_row(ChangeOp::Upsert, row).unwrap_err();
    assert!(matches!(err, EncodeError::Value { ref column, .. } if column == "attrs"));
    assert_eq!(enc.block().data(), &before[..]);
    assert_eq!(enc.block().len(), 1);
}

fn options(unknown: UnknownColumns, dropped: &[&str], added: &[&str]) -> EncodeOptions {
    EncodeOptions {
        unknown,
        dropped: dropped.iter().map(|s| s.to_string()).collect(),
        added: added.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn unknown_columns_are_refused_by_default() {
    let mut enc = BodyEncoder::new(&orders()).unwrap();
    enc.push_row(ChangeOp::Upsert, order_row("1", "ok"))
        .unwrap();
    let before = enc.block().data().to_vec();
    // Twice: the second time the names come from the position cache.
    for _ in 0..2 {
        let mut row = order_row("2", "x");
        row.insert(2, c("channel", ValueKind::Text, "web"));
        row.push(n("utm"));
        let err = enc.push_row(ChangeOp::Upsert, row).unwrap_err();
        assert_eq!(
            err,
            EncodeError::UnknownColumns {
                table: "shop.orders".into(),
                columns: vec!["channel".into(), "utm".into()],
            }
        );
        assert!(err.to_string().contains("onUnknownColumn"), "{err}");
        assert_eq!(enc.block().data(), &before[..]);
        assert_eq!(enc.block().len(), 1);
    }
    // Deletes too: their values would be dropped just the same.
    let err = enc
        .push_row(
            ChangeOp::Delete,
            [
                c("id", ValueKind::Integer, "1"),
                c("channel", ValueKind::Text, "web"),
            ],
        )
        .unwrap_err();
    assert!(
        matches!(err, EncodeError::UnknownColumns { ref columns, .. } if columns == &["channel"])
    );
    // A shorter row at the cached positions names only its own unknown columns.
    let mut row = order_row("3", "x");
    row.insert(2, c("channel", ValueKind::Text, "web"));
    let err = enc.push_row(ChangeOp::Upsert, row).unwrap_err();
    assert!(
        matches!(err, EncodeError::UnknownColumns { ref columns, .. } if columns == &["channel"])
    );
    // Nothing was dropped, so nothing to report or count.
    assert!(enc.take_unknown_columns().is_empty());
    assert_eq!(enc.take_unknown_values(), 0);
    enc.push_row(ChangeOp::Upsert, order_row("4", "ok"))
        .unwrap();
    assert_eq!(enc.block().len(), 2);
}

#[test]
fn unknown_columns_are_dropped_reported_once_and_counted() {
    let drop = options(UnknownColumns::Drop, &[], &[]);
    let mut enc = BodyEncoder::with_options(&orders(), drop).unwrap();
    for _ in 0..3 {
        let mut row = order_row("1", "x");
        row.insert(2, c("channel", ValueKind::Text, "web"));
        enc.push_row(ChangeOp::Upsert, row).unwrap();
    }
    // Different position, same name: still reported once.
    let mut row = order_row("1", "x");
    row.insert(0, c("channel", ValueKind::Text, "web"));
    row.push(n("utm"));
    enc.push_row(ChangeOp::Upsert, row).unwrap();
    // A row that fails anyway drops nothing.
    let mut row = order_row("1", "seventeen bytes!!");
    row.push(c("channel", ValueKind::Text, "web"));
    assert!(matches!(
        enc.push_row(ChangeOp::Upsert, row),
        Err(EncodeError::Value { .. })
    ));
    assert_eq!(
        enc.take_unknown_columns(),
        vec!["channel".to_string(), "utm".to_string()]
    );
    assert!(enc.take_unknown_columns().is_empty());
    assert_eq!(enc.take_unknown_values(), 5);
    assert_eq!(enc.take_unknown_values(), 0);
    assert_eq!(
        enc.block().row_bytes(&enc.block().rows()[0]),
        b"1\x01x\x0199.90\x012024-06-01 10:00:00\x01\\N\x010\x02"
    );
}

#[test]
fn columns_dropped_by_ddl_are_dropped_quietly() {
    for unknown in [UnknownColumns::Refuse, UnknownColumns::Drop] {
        // `status` is in the target: a dropped name never hides a target column.
        let opts = options(unknown, &["Legacy", "status"], &[]);
        let mut enc = BodyEncoder::with_options(&orders(), opts).unwrap();
        for _ in 0..2 {
            let mut row = order_row("1", "x");
            row.insert(1, c("legacy", ValueKind::Text, "old"));
            let span = enc.push_row(ChangeOp::Upsert, row).unwrap();
            assert!(enc.block().row_bytes(&span).starts_with(b"1\x01x\x01"));
        }
        assert!(enc.take_unknown_columns().is_empty());
        assert_eq!(enc.take_unknown_values(), 0);
    }
}

/// A table where a DDL of this run added every column after `id` but `req` and `plain`.
fn evolved() -> TargetTable {
    let with_default = |mut c: TargetColumn, d: &str| {
        c.default = Some(d.to_string());
        c.has_default = true;
        c
    };
    TargetTable::new(
        "shop",
        "evolved",
        vec![
            col("id", "int", false, true),
            with_default(col("n", "int", false, false), "7"),
            with_default(col("s", "varchar(8)", false, false), "none"),
            with_default(col("ts", "datetime", false, false), "2024-01-01 00:00:00"),
            col("note", "varchar(8)", true, false),
            with_default(col("nd", "int", true, false), "-3"),
            col("req", "int", false, false),
            col("plain", "varchar(8)", false, false),
        ],
        TableModel::PrimaryKeys,
    )
    .unwrap()
}

const ADDED: &[&str] = &["n", "S", "ts", "note", "nd", "req", "gone"];

#[test]
fn added_columns_get_their_default_or_null() {
    let opts = options(UnknownColumns::Refuse, &[], ADDED);
    let mut enc = BodyEncoder::with_options(&evolved(), opts).unwrap();
    let old_row = |id| {
        vec![
            c("plain", ValueKind::Text, "p"),
            c("id", ValueKind::Integer, id),
            c("req", ValueKind::Integer, "5"),
        ]
    };
    let span = enc.push_row(ChangeOp::Upsert, old_row("1")).unwrap();
    assert_eq!(
        printable_csv_row(enc.block().row_bytes(&span)),
        "1|7|none|2024-01-01 00:00:00|\\N|-3|5|p|0⏎"
    );
    // Values the row carries win over defaults.
    let mut row = old_row("2");
    row.push(c("n", ValueKind::Integer, "8"));
    row.push(n("nd"));
    let span = enc.push_row(ChangeOp::Upsert, row).unwrap();
    assert_eq!(
        printable_csv_row(enc.block().row_bytes(&span)),
        "2|8|none|2024-01-01 00:00:00|\\N|\\N|5|p|0⏎"
    );
    // A NOT NULL column without default cannot be filled, added or not.
    let err = enc
        .push_row(
            ChangeOp::Upsert,
            [
                c("id", ValueKind::Integer, "3"),
                c("plain", ValueKind::Text, "p"),
            ],
        )
        .unwrap_err();
    assert_eq!(
        err,
        EncodeError::PartialRow {
            table: "shop.evolved".into(),
            missing: vec!["req".into()],
            present: vec!["id".into(), "plain".into()],
        }
    );
    // Deletes are unaffected: placeholders, not defaults.
    let span = enc
        .push_row(ChangeOp::Delete, [c("id", ValueKind::Integer, "4")])
        .unwrap();
    assert_eq!(
        printable_csv_row(enc.block().row_bytes(&span)),
        "4|0||1970-01-01 00:00:00|\\N|\\N|0||1⏎"
    );
    // In JSON the defaults are typed like any value of their column.
    let mut row = old_row("5");
    row[0] = c("plain", ValueKind::Text, "\u{1}");
    enc.push_row(ChangeOp::Upsert, row).unwrap();
    let block = enc.take_block(None);
    assert_eq!(block.format(), BodyFormat::Json);
    assert_eq!(block.json_rows(), 1);
    let mut body = enc.body_builder(BodyFormat::Json).unwrap();
    body.push_block(&block).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body.finish()).unwrap();
    assert_eq!(
        v[0],
        serde_json::json!({"id":1,"n":7,"s":"none","ts":"2024-01-01 00:00:00","note":null,"nd":-3,"req":5,"plain":"p","__op":0})
    );
    // Without `added` the same old row is a PartialRow.
    let mut enc = BodyEncoder::new(&evolved()).unwrap();
    let err = enc.push_row(ChangeOp::Upsert, old_row("1")).unwrap_err();
    assert!(
        matches!(err, EncodeError::PartialRow { ref missing, .. } if missing.len() == 5),
        "{err}"
    );
}

#[test]
fn an_added_default_that_does_not_encode_fails_only_rows_needing_it() {
    let mut t = evolved();
    t.columns[3].default = Some("CURRENT_TIMESTAMP".into());
    let opts = options(UnknownColumns::Refuse, &[], ADDED);
    let mut enc = BodyEncoder::with_options(&t, opts).unwrap();
    let row = vec![
        c("id", ValueKind::Integer, "1"),
        c("req", ValueKind::Integer, "5"),
        c("plain", ValueKind::Text, "p"),
    ];
    let err = enc.push_row(ChangeOp::Upsert, row.clone()).unwrap_err();
    match &err {
        EncodeError::Value { column, reason, .. } => {
            assert_eq!(column, "ts");
            assert!(reason.contains("CURRENT_TIMESTAMP"), "{reason}");
        }
        e => panic!("{e}"),
    }
    assert!(enc.block().is_empty());
    let mut carried = row;
    carried.push(c("ts", ValueKind::DateTime, "2024-06-01 10:00:00"));
    enc.push_row(ChangeOp::Upsert, carried).unwrap();
    // Key columns are never filled: a default key would merge rows.
    let mut t = evolved();
    t.columns[0].default = Some("0".into());
    let opts = options(UnknownColumns::Refuse, &[], &["id"]);
    let mut enc = BodyEncoder::with_options(&t, opts).unwrap();
    let err = enc
        .push_row(ChangeOp::Upsert, [c("plain", ValueKind::Text, "p")])
        .unwrap_err();
    assert!(matches!(err, EncodeError::PartialRow { ref missing, .. } if missing[0] == "id"));
}

#[test]
fn projected_tables_load_as_partial_updates() {
    let full = orders();
    // The flow the engine follows: a PartialRow names what the row carries.
    let row = [
        c("status", ValueKind::Text, "PAID"),
        c("id", ValueKind::Integer, "1"),
    ];
    let err = BodyEncoder::new(&full)
        .unwrap()
        .push_row(ChangeOp::Upsert, row)
        .unwrap_err();
    let EncodeError::PartialRow { present, .. } = err else {
        panic!("{err}")
    };
    let projected = full.project(&present).unwrap();
    assert_ne!(projected, full);
    let mut enc = BodyEncoder::new(&projected).unwrap();
    let span = enc.push_row(ChangeOp::Upsert, row).unwrap();
    assert_eq!(enc.block().row_bytes(&span), b"1\x01PAID\x010\x02");
    // A delete writes placeholders for the projection's non-key columns only.
    let span = enc
        .push_row(ChangeOp::Delete, [c("id", ValueKind::Integer, "2")])
        .unwrap();
    assert_eq!(enc.block().row_bytes(&span), b"2\x01\x011\x02");
    // The projection lacks `amount`: unknown to it.
    let err = enc
        .push_row(
            ChangeOp::Upsert,
            [
                c("id", ValueKind::Integer, "3"),
                c("status", ValueKind::Text, "x"),
                c("amount", ValueKind::Decimal, "1"),
            ],
        )
        .unwrap_err();
    assert!(matches!(err, EncodeError::UnknownColumns { .. }), "{err}");
    let block = enc.take_block(None);
    assert_eq!(block.key_bytes(&block.rows()[1]), b"\x01\0\0\x002");

    for format in [BodyFormat::Csv, BodyFormat::Json] {
        let mut body = BodyBuilder::new(&projected, format).unwrap();
        body.push_block(&block).unwrap();
        let h = body.headers();
        let get = |k: &str| h.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        assert_eq!(get("partial_update").as_deref(), Some("true"));
        assert_eq!(get("columns").as_deref(), Some("`id`,`status`,__op"));
        assert_eq!(get("format").as_deref(), Some(format.as_str()));
        let bytes = body.finish();
        match format {
            BodyFormat::Csv => assert_eq!(bytes, b"1\x01PAID\x010\x022\x01\x011\x02"),
            BodyFormat::Json => assert_eq!(
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
                serde_json::json!([
                    {"id":1,"status":"PAID","__op":0},
                    {"id":2,"status":"","__op":1},
                ])
            ),
        }
    }
    // A full table never asks for a partial update.
    let h = headers(&full, BodyFormat::Csv).unwrap();
    assert!(h.iter().all(|(n, _)| *n != "partial_update"));
}

#[test]
fn names_match_case_insensitively() {
    let mut enc = BodyEncoder::new(&orders()).unwrap();
    let row = vec![
        c("ID", ValueKind::Integer, "1"),
        c("Status", ValueKind::Text, "x"),
        c("AMOUNT", ValueKind::Decimal, "1"),
        c("created_AT", ValueKind::DateTime, "2024-06-01 10:00:00"),
        n("Attrs"),
    ];
    enc.push_row(ChangeOp::Upsert, row).unwrap();
    assert!(enc.take_unknown_columns().is_empty());
}

#[test]
fn keys_are_normalised_and_hashed() {
    let t = TargetTable::new(
        "d",
        "t",
        vec![
            col("ts", "datetime", false, true),
            col("level", "varchar(8)", false, true),
            col("msg", "varchar(64)", true, false),
        ],
        TableModel::PrimaryKeys,
    )
    .unwrap();
    let mut enc = BodyEncoder::new(&t).unwrap();
    let row = |ts: &'static str, level: &'static str, msg: &'static str| {
        vec![
            c("ts", ValueKind::DateTime, ts),
            c("level", ValueKind::Text, level),
            c("msg", ValueKind::Text, msg),
        ]
    };
    let a = enc
        .push_row(
            ChangeOp::Upsert,
            row("2024-06-01 10:11:00.000100", "INFO", "a"),
        )
        .unwrap();
    let b = enc
        .push_row(
            ChangeOp::Upsert,
            row("2024-06-01 10:11:00.0001", "INFO", "b"),
        )
        .unwrap();
    let c2 = enc
        .push_row(
            ChangeOp::Upsert,
            row("2024-06-01 10:11:00.0001", "INFO2", "c"),
        )
        .unwrap();
    // Length prefixes keep ("ab","c") and ("a","bc") apart.
    let d = enc
        .push_row(ChangeOp::Delete, row("2024-06-01 10:11:00", "I", "x"))
        .unwrap();
    let block = enc.block();
    assert_eq!(block.key_bytes(&a), block.key_bytes(&b));
    assert_eq!(a.key_hash, b.key_hash);
    assert_ne!(block.key_bytes(&a), block.key_bytes(&c2));
    assert_ne!(a.key_hash, c2.key_hash);
    assert_eq!(
        block.key_bytes(&d),
        b"\x13\0\0\x002024-06-01 10:11:00\x01\0\0\0I"
    );
    assert_eq!(key_hash(block.key_bytes(&d)), d.key_hash);
}

#[test]
fn varbinary_tables_refuse_hard_text() {
    let t = TargetTable::new(
        "d",
        "t",
        vec![
            col("id", "int", false, true),
            col("name", "varchar(8)", true, false),
            col("blob", "varbinary", true, false),
        ],
        TableModel::PrimaryKeys,
    )
    .unwrap();
    let mut enc = BodyEncoder::new(&t).unwrap();
    let err = enc
        .push_row(
            ChangeOp::Upsert,
            [
                c("id", ValueKind::Integer, "1"),
                c("name", ValueKind::Text, "\\N"),
                Column {
                    name: "blob",
                    kind: ValueKind::Binary,
                    value: Value::Bytes(&[1, 2]),
                },
            ],
        )
        .unwrap_err();
    assert!(matches!(err, EncodeError::Unrepresentable { ref column, .. } if column == "name"));
    assert!(enc.block().is_empty());
    assert!(BodyBuilder::new(&t, BodyFormat::Json).is_err());
    let span = enc
        .push_row(
            ChangeOp::Upsert,
            [
                c("id", ValueKind::Integer, "1"),
                c("name", ValueKind::Text, "ok"),
                Column {
                    name: "blob",
                    kind: ValueKind::Binary,
                    value: Value::Bytes(&[0xFF, 0xFE, 0x3C, 0x26, 0x2D]),
                },
            ],
        )
        .unwrap();
    assert_eq!(
        enc.block().row_bytes(&span),
        b"1\x01ok\x01//48Ji0=\x010\x02"
    );
}

#[test]
fn only_primary_key_tables() {
    let mut t = orders();
    t.model = TableModel::Duplicate;
    assert!(matches!(
        BodyEncoder::new(&t),
        Err(EncodeError::NotPrimaryKey { .. })
    ));
    let t = TargetTable::new(
        "d",
        "t",
        vec![col("a", "int", true, false)],
        TableModel::PrimaryKeys,
    )
    .unwrap();
    assert!(matches!(
        BodyEncoder::new(&t),
        Err(EncodeError::NoKey { .. })
    ));
}

/// Fuzz finding #5: a column named `__op` made JSON rows carry the key twice (the row's value,
/// then the operation), and CSV `columns` headers list it twice.
#[test]
fn a_column_named_like_the_operation_column_is_refused() {
    for name in ["__op", "__OP"] {
        let t = TargetTable::new(
            "d",
            "t",
            vec![col("id", "int", false, true), col(name, "int", true, false)],
            TableModel::PrimaryKeys,
        )
        .unwrap();
        let Err(err) = BodyEncoder::new(&t) else {
            panic!("a table with a column {name:?} got an encoder");
        };
        assert!(
            matches!(&err, EncodeError::ReservedColumn { column, .. } if column == name),
            "{err}"
        );
        assert!(err.to_string().contains("operation column"), "{err}");
    }
}

#[test]
fn take_block_reuses_spare_allocations() {
    let mut enc = BodyEncoder::new(&orders()).unwrap();
    for i in 0..100 {
        let id = i.to_string();
        enc.push_row(ChangeOp::Upsert, order_row(&id, "x")).unwrap();
    }
    let full = enc.take_block(None);
    assert_eq!(full.len(), 100);
    assert!(enc.block().is_empty());
    let cap = full.data().len();
    let mut spare = full;
    spare.clear();
    let _ = enc.take_block(Some(spare));
    assert!(enc.block.data.capacity() >= cap);
}

#[test]
fn a_block_counts_the_room_its_buffers_hold() {
    let mut enc = BodyEncoder::new(&orders()).unwrap();
    for i in 0..1000 {
        let id = i.to_string();
        enc.push_row(ChangeOp::Upsert, order_row(&id, "x")).unwrap();
        let block = enc.block();
        assert!(block.held_bytes() >= block.byte_size());
    }
    let block = enc.take_block(None);
    assert!(block.held_bytes() > block.byte_size(), "grown by doubling");
}

#[test]
fn recycled_slots_keep_their_buffer() {
    let mut v: Vec<Option<Column<'static>>> = Vec::with_capacity(16);
    v.push(None);
    let p = v.as_ptr() as usize;
    let w: Vec<Option<Column<'_>>> = recycle(v);
    assert_eq!(w.as_ptr() as usize, p);
    assert!(w.capacity() >= 16);
}

#[test]
fn printable_rows() {
    assert_eq!(
        printable_csv_row(b"1\x01a\tb\x01\\N\x010\x02"),
        "1|a\\u{9}b|\\N|0⏎"
    );
}

/// A row in the table's order is encoded as it is read (`push_in_order`); the same row in
/// another order goes through the placing path. Both give the same bytes, key and span, for
/// upserts and deletes, and every row the in-order path turns down (a hard value, a missing or
/// unknown column, a bad value) ends as the placing path makes it.
#[test]
fn rows_in_table_order_encode_as_rows_placed_by_name() {
    let reversed = |row: Vec<Column<'static>>| row.into_iter().rev().collect::<Vec<_>>();
    let cases: Vec<(ChangeOp, Vec<Column<'static>>)> = vec![
        (ChangeOp::Upsert, order_row("1001", "NEW")),
        (ChangeOp::Delete, order_row("1002", "PAID")),
        // A hard value: a JSON row.
        (ChangeOp::Upsert, order_row("1003", "a\u{1}b")),
        (ChangeOp::Upsert, {
            let mut row = order_row("1004", "NEW");
            row[4] = c("attrs", ValueKind::Json, "{\"k\":1}");
            row
        }),
    ];
    for (op, row) in cases {
        let mut in_order = BodyEncoder::new(&orders()).unwrap();
        let mut placed = BodyEncoder::new(&orders()).unwrap();
        let a = in_order.push_row(op, row.clone()).unwrap();
        let b = placed.push_row(op, reversed(row.clone())).unwrap();
        assert_eq!(a, b, "{row:?}");
        assert_eq!(in_order.block().data(), placed.block().data(), "{row:?}");
        assert_eq!(in_order.block().keys(), placed.block().keys(), "{row:?}");
    }
    // Rows the in-order path turns down, and the error each one gets either way.
    let bad_value = {
        let mut row = order_row("1005", "NEW");
        row[2] = c("amount", ValueKind::Decimal, "12345678901.5");
        row
    };
    let missing_and_bad = bad_value[..4].to_vec();
    let unknown = {
        let mut row = order_row("1006", "NEW");
        row.push(c("extra", ValueKind::Text, "x"));
        row
    };
    for row in [bad_value, missing_and_bad, unknown] {
        let mut in_order = BodyEncoder::new(&orders()).unwrap();
        let mut placed = BodyEncoder::new(&orders()).unwrap();
        let a = in_order
            .push_row(ChangeOp::Upsert, row.clone())
            .unwrap_err();
        let b = placed
            .push_row(ChangeOp::Upsert, reversed(row.clone()))
            .unwrap_err();
        match (&a, &b) {
            // Unknown columns are listed in message order, which differs.
            (EncodeError::UnknownColumns { columns, .. }, EncodeError::UnknownColumns { .. }) => {
                assert_eq!(columns, &["extra"])
            }
            _ => assert_eq!(a, b, "{row:?}"),
        }
        assert!(in_order.block().is_empty() && in_order.block().keys().is_empty());
    }
}
