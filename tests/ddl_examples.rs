//! The DDL messages of the format spec's examples (`shared/spec/examples/*.jsonl`), decoded and
//! read by `starpipe::ddl::parse` with the message's own database and table.

use std::path::PathBuf;

use starpipe::ddl::{CannotApply, Change, Ignored, SourceName, TableRef, parse};
use starpipe::decode::{DecodeOptions, Decoded, Decoder, Format, MessageKeys};

fn examples(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/spec/examples")
        .join(file)
}

fn kind(c: &Change) -> String {
    match c {
        Change::AddColumn { column, .. } => format!("add {}", column.name),
        Change::DropColumn { name } => format!("drop {name}"),
        Change::ModifyColumn { column } => format!("modify {} {}", column.name, column.source_type),
        Change::CreateTable { schema } => format!("create {:?}", schema.primary_key),
        Change::TruncateTable => "truncate".into(),
        Change::DropTable => "drop table".into(),
        Change::RenameTable { from, to } => format!("rename {} → {}", name(from), name(to)),
        Change::Ignore(Ignored::Index { .. }) => "ignored index".into(),
        Change::Ignore(Ignored::NotATableChange { .. }) => "ignored statement".into(),
        Change::CannotApply(CannotApply::DropDatabase { .. }) => "drop database".into(),
        other => format!("{other:?}"),
    }
}

fn name(t: &TableRef) -> String {
    t.to_string()
}

/// `(sql, changes)` of every DDL message of `file`.
fn ddl_changes(file: &str, format: Format) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(examples(file)).unwrap();
    let mut decoder = Decoder::new(DecodeOptions::new(format));
    let mut out = Vec::new();
    for line in text.lines() {
        let mut input = line.as_bytes().to_vec();
        if let Ok(Decoded::Ddl(d)) = decoder.decode(&mut input, &MessageKeys) {
            let source = SourceName {
                db: d.table.db,
                table: d.table.table,
            };
            let changes = parse(d.sql, source).iter().map(kind).collect();
            out.push((d.sql.to_string(), changes));
        }
    }
    out
}

fn expected(sql: &str) -> Vec<&'static str> {
    let s = sql.to_ascii_lowercase();
    let one = if s.starts_with("create table") {
        "create [\"id\"]"
    } else if s.contains("add column `channel`") || s.contains("add column channel") {
        "add channel"
    } else if s.contains("drop column note") {
        "drop note"
    } else if s.contains("modify column amount") {
        "modify amount DECIMAL(12,2)"
    } else if s.starts_with("rename table") {
        "rename shop.coupons → shop.vouchers"
    } else if s.starts_with("truncate") {
        "truncate"
    } else if s.starts_with("drop table") {
        "drop table"
    } else if s.contains("index") {
        "ignored index"
    } else if s.starts_with("create database") || s.is_empty() {
        "ignored statement"
    } else if s.starts_with("drop database") {
        "drop database"
    } else {
        panic!("no expectation for {sql:?}")
    };
    vec![one]
}

#[test]
fn every_ddl_example_reads_as_expected() {
    for (file, format) in [
        ("canal.jsonl", Format::Canal),
        ("cloudcanal.jsonl", Format::CloudCanal),
    ] {
        let found = ddl_changes(file, format);
        assert!(found.len() >= 7, "{file}: {found:?}");
        for (sql, changes) in found {
            assert_eq!(changes, expected(&sql), "{file}: {sql:?}");
        }
    }
}
