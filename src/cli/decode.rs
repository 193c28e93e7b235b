//! `starpipe decode`: decode JSON Lines of record values and print one JSON object per change.
//!
//! Output contract (one line each, in order):
//! `{"line":N,"op":"upsert"|"delete","db":…,"table":…,"row":{"col":"value"|null,…}}`,
//! `{"line":N,"op":"ddl","db":…,"table":…,"kind":"ALTER","sql":…}`. Values are strings after
//! type handling (binary as `0x` + lowercase hex), SQL NULL is `null`, absent columns are absent.
//! Control messages print nothing. With `--table db.table`, a message that names no table is
//! printed with that `db` and `table` (as a `[[tables]]` entry with `topic` would give it). An undecodable line prints `line N: <ErrorClass>: <message>`
//! on stderr; the exit status is 1 if any line failed.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{Map, Value as Json};

use super::DecodeArgs;
use crate::decode::{Decoded, Decoder};
use crate::model::Value;

/// Runs `starpipe decode`.
pub fn run(args: &DecodeArgs) -> anyhow::Result<ExitCode> {
    let settings = match args.decode_settings() {
        Ok(s) => s,
        Err(problems) => anyhow::bail!("{problems}"),
    };
    let mut options = settings.decode_options(args.format);
    options.fallback_table = args.table.as_ref().map(|t| (t.db.clone(), t.table.clone()));
    let keys: HashMap<String, Arc<[String]>> = args
        .pk
        .iter()
        .map(|p| {
            (
                format!("{}.{}", p.db, p.table),
                Arc::from(p.columns.clone()),
            )
        })
        .collect();

    let input: Box<dyn Read> = match &args.file {
        Some(path) => {
            Box::new(File::open(path).with_context(|| format!("cannot open {}", path.display()))?)
        }
        None => Box::new(io::stdin().lock()),
    };
    let mut reader = BufReader::new(input);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut decoder = Decoder::new(options);
    let mut line = Vec::new();
    let mut number = 0usize;
    let mut failed = false;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        number += 1;
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        match decoder.decode(&mut line, &keys) {
            Ok(decoded) => print(&mut out, number, &decoded)?,
            Err(e) => {
                out.flush()?;
                eprintln!("line {number}: {}: {}", e.class, e.message);
                failed = true;
            }
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print(out: &mut impl Write, line: usize, decoded: &Decoded<'_>) -> io::Result<()> {
    match decoded {
        Decoded::Rows(batch) => {
            for change in batch.changes() {
                let mut row = Map::new();
                for col in change.row.columns() {
                    let v = match col.value {
                        Value::Null => Json::Null,
                        other => Json::String(other.to_string()),
                    };
                    row.insert(col.name.to_string(), v);
                }
                let mut obj = Map::new();
                obj.insert("line".into(), line.into());
                obj.insert("op".into(), change.op.as_str().into());
                obj.insert("db".into(), batch.table.db.into());
                if let Some(schema) = batch.table.schema {
                    obj.insert("schema".into(), schema.into());
                }
                obj.insert("table".into(), batch.table.table.into());
                obj.insert("row".into(), Json::Object(row));
                serde_json::to_writer(&mut *out, &obj)?;
                out.write_all(b"\n")?;
            }
        }
        Decoded::Ddl(ddl) => {
            let mut obj = Map::new();
            obj.insert("line".into(), line.into());
            obj.insert("op".into(), "ddl".into());
            obj.insert("db".into(), ddl.table.db.into());
            if let Some(schema) = ddl.table.schema {
                obj.insert("schema".into(), schema.into());
            }
            obj.insert("table".into(), ddl.table.table.into());
            obj.insert("kind".into(), ddl.kind.clone().into());
            obj.insert("sql".into(), ddl.sql.into());
            serde_json::to_writer(&mut *out, &obj)?;
            out.write_all(b"\n")?;
        }
        Decoded::TxnEnd { .. } | Decoded::Watermark { .. } | Decoded::Ignore(_) => {}
    }
    Ok(())
}
