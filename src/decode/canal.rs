//! Canal JSON ("AlibabaCanal", canal-json flat messages): alibaba/canal, BladePipe's
//! compatible variant, TiCDC's `canal-json` (formats.md §2).
//!
//! Format-specific decisions:
//! - `isDdl` must be a boolean or absent (absent = false); `type` is required and matched
//!   case-insensitively (warning when not upper case).
//! - `INIT` (Alibaba Cloud DTS initial-load rows) is INSERT when `data` is an array (§2.3 rule 7);
//!   without one it is an unknown type.
//! - `data: null` on INSERT/UPDATE/DELETE is statement-format DML → `StatementDml` (§2.3 rule 4),
//!   except a DELETE whose rows are in `old` (variant producers, §2.4).
//! - ENUM / SET values are 1-based indexes / bitmasks when ambiguous (§5.3).
//! - `pkNames: null` on DML means the source table has no primary key (warned once per message).
//! - TiCDC: `TIDB_WATERMARK` → watermark with `_tidb.watermarkTs`; `_tidb.onlyHandleKey` on a
//!   non-DELETE is `Unsupported` (the full row is not in the message).

use super::envelope::{
    self, DdlMsg, KindWord, Message, canal_rows_msg, dml_message, hint_keys, hint_object, opt_bool,
    opt_rows, opt_str,
};
use super::json::{Node, Parsed};
use super::{DecodeError, ErrorClass};
use crate::model::{DmlKind, IgnoreReason, Warnings};

const FIELDS: [&str; 11] = [
    "type",
    "isDdl",
    "database",
    "table",
    "data",
    "old",
    "pkNames",
    "mysqlType",
    "sql",
    "tableChanges",
    "_tidb",
];

pub(crate) fn read_envelope(p: &mut Parsed, input: &[u8]) -> Result<Message, DecodeError> {
    let [
        ty,
        is_ddl,
        database,
        table,
        data,
        old,
        pk_names,
        mysql_type,
        sql,
        table_changes,
        tidb,
    ] = envelope::read_top(p, FIELDS)?;
    let is_ddl = opt_bool(p, is_ddl, "isDdl")?.unwrap_or(false);
    let kind = opt_str(p, ty, "type")?
        .ok_or_else(|| DecodeError::new(ErrorClass::Envelope, "missing type"))?;
    let db = opt_str(p, database, "database")?;
    let table = opt_str(p, table, "table")?;
    if is_ddl {
        return Ok(Message::Ddl(DdlMsg {
            kind: Some(kind),
            db,
            schema: None,
            table,
            sql: opt_str(p, sql, "sql")?,
            table_changes: hint_object(p, table_changes),
            types: hint_object(p, mysql_type),
            key_hint: hint_keys(p, pk_names),
        }));
    }
    let word = kind.get(input);
    // Alibaba Cloud DTS writes its initial-load (snapshot) rows as `INIT` (§2.3 rule 7).
    let init = word.eq_ignore_ascii_case("INIT");
    let dml = match envelope::kind_word(word) {
        KindWord::Dml(k) => k,
        KindWord::Unknown if init => DmlKind::Insert,
        KindWord::Watermark => {
            return Ok(Message::Watermark {
                ts: watermark(p, input, tidb),
            });
        }
        KindWord::RowsQuery => return Ok(Message::Ignore(IgnoreReason::RowsQuery)),
        KindWord::Control => return Ok(Message::Ignore(IgnoreReason::ControlType)),
        KindWord::Unknown => {
            return Err(DecodeError::new(
                ErrorClass::UnknownType,
                format!("unknown type {word:?}"),
            ));
        }
    };
    let data = opt_rows(p, data, "data")?;
    let old = opt_rows(p, old, "old")?;
    if init && data.is_none() {
        // §2.3: only `INIT` with a `data` array is rows; anything else is an unknown type.
        return Err(DecodeError::new(
            ErrorClass::UnknownType,
            format!("{word} without a data array (only DTS initial-load rows are understood)"),
        ));
    }
    if dml != DmlKind::Delete && only_handle_key(p, tidb) {
        return Err(DecodeError::new(
            ErrorClass::Unsupported,
            "TiCDC handle-key-only message (large-message handling): the row is not in the message",
        ));
    }
    let mut msg = canal_rows_msg();
    msg.db = db;
    msg.table = table;
    msg.key_hint = hint_keys(p, pk_names);
    msg.types = hint_object(p, mysql_type);
    if matches!(pk_names, envelope::Field::Absent | envelope::Field::Null) {
        msg.warnings.insert(Warnings::SOURCE_WITHOUT_PK);
    }
    let statement = DecodeError::new(
        ErrorClass::StatementDml,
        format!(
            "{word} with data:null is statement-format DML (binlog_format=STATEMENT/MIXED); it cannot be applied row-wise"
        ),
    );
    dml_message(
        p,
        dml,
        word.bytes().any(|b| b.is_ascii_lowercase()),
        data,
        old,
        "old",
        statement,
        msg,
    )
}

fn tidb_member(p: &Parsed, tidb: envelope::Field, name: &str) -> Option<usize> {
    match tidb {
        envelope::Field::At(i) if matches!(p.nodes.at(i), Node::Object { .. }) => {
            envelope::member(p, i, name)
        }
        _ => None,
    }
}

fn watermark(p: &mut Parsed, input: &[u8], tidb: envelope::Field) -> u64 {
    match tidb_member(p, tidb, "watermarkTs") {
        Some(i) if p.nodes.at(i) == Node::Number => {
            let (start, len) = p.number_lexeme(input, i);
            envelope::Span { start, len }
                .get(input)
                .parse()
                .unwrap_or(0)
        }
        _ => 0,
    }
}

fn only_handle_key(p: &Parsed, tidb: envelope::Field) -> bool {
    tidb_member(p, tidb, "onlyHandleKey").is_some_and(|i| p.nodes.at(i) == Node::Bool(true))
}
