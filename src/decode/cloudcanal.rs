//! CloudCanal JSON (`CLOUDCANAL_JSON_FOR_MQ`), the default format of BladePipe's Kafka/AutoMQ
//! targets (formats.md §3).
//!
//! Format-specific decisions (the defensive rules of §3.5 and §5.6):
//! - The DDL flag is `isDdl` or `ddl` (the captured vendor message spells it `ddl`); both present
//!   and different is an `Envelope` error.
//! - `entryType: TRANSACTIONEND` is a transaction end marker whatever else the message holds;
//!   a missing `entryType` means `ROWDATA`.
//! - `action` is required (except on TRANSACTIONEND) and matched case-insensitively.
//! - `data: null` on DML is an `Envelope` error; a DELETE with `data: []` takes its rows from
//!   `before`; an UPDATE with `before` empty or null has no before image (UPSERT, warned).
//! - `schema` is kept when it differs from `db` (PostgreSQL / Oracle / SQL Server sources), so
//!   routing sees `db.schema.table`.
//! - ENUM / SET values are labels when ambiguous (§5.3, `auto` with label default); binary is
//!   ISO-8859-1 like canal (§5.6 assumption); embedded JSON objects are re-serialised compactly.
//! - `pks: []` on DML is warned: the key comes from the target table (§3.1).

use super::envelope::{
    self, DdlMsg, KindWord, Message, cloudcanal_rows_msg, dml_message, hint_keys, hint_object,
    opt_bool, opt_rows, opt_str,
};
use super::json::Parsed;
use super::{DecodeError, ErrorClass};
use crate::model::{IgnoreReason, Warnings};

const FIELDS: [&str; 13] = [
    "action",
    "isDdl",
    "ddl",
    "db",
    "schema",
    "table",
    "data",
    "before",
    "pks",
    "dbValType",
    "sql",
    "tableChanges",
    "entryType",
];

pub(crate) fn read_envelope(p: &mut Parsed, input: &[u8]) -> Result<Message, DecodeError> {
    let [
        action,
        is_ddl,
        ddl,
        db,
        schema,
        table,
        data,
        before,
        pks,
        types,
        sql,
        changes,
        entry,
    ] = envelope::read_top(p, FIELDS)?;
    let flag_a = opt_bool(p, is_ddl, "isDdl")?;
    let flag_b = opt_bool(p, ddl, "ddl")?;
    let is_ddl = match (flag_a, flag_b) {
        (Some(a), Some(b)) if a != b => {
            return Err(DecodeError::new(
                ErrorClass::Envelope,
                format!("conflicting DDL flags: isDdl={a}, ddl={b}"),
            ));
        }
        (a, b) => a.or(b).unwrap_or(false),
    };
    let db = opt_str(p, db, "db")?;
    let schema = opt_str(p, schema, "schema")?
        .filter(|s| s.len > 0 && db.is_none_or(|d| d.get(input) != s.get(input)));
    if opt_str(p, entry, "entryType")?.is_some_and(|e| e.get(input) == "TRANSACTIONEND") {
        return Ok(Message::TxnEnd { db });
    }
    let kind = opt_str(p, action, "action")?
        .ok_or_else(|| DecodeError::new(ErrorClass::Envelope, "missing action"))?;
    let table = opt_str(p, table, "table")?;
    if is_ddl {
        return Ok(Message::Ddl(DdlMsg {
            kind: Some(kind),
            db,
            schema,
            table,
            sql: opt_str(p, sql, "sql")?,
            table_changes: hint_object(p, changes),
            types: hint_object(p, types),
            key_hint: hint_keys(p, pks),
        }));
    }
    let word = kind.get(input);
    let dml = match envelope::kind_word(word) {
        KindWord::Dml(k) => k,
        KindWord::Watermark | KindWord::Control => {
            return Ok(Message::Ignore(IgnoreReason::ControlType));
        }
        KindWord::RowsQuery => return Ok(Message::Ignore(IgnoreReason::RowsQuery)),
        KindWord::Unknown => {
            return Err(DecodeError::new(
                ErrorClass::UnknownType,
                format!("unknown action {word:?}"),
            ));
        }
    };
    let data = opt_rows(p, data, "data")?;
    let before = opt_rows(p, before, "before")?;
    let mut msg = cloudcanal_rows_msg();
    msg.db = db;
    msg.schema = schema;
    msg.table = table;
    msg.key_hint = hint_keys(p, pks);
    msg.types = hint_object(p, types);
    if msg.key_hint.is_none() {
        msg.warnings.insert(Warnings::PKS_EMPTY);
    }
    let null_data = DecodeError::new(ErrorClass::Envelope, format!("{word} with data:null"));
    dml_message(
        p,
        dml,
        word.bytes().any(|b| b.is_ascii_lowercase()),
        data,
        before,
        "before",
        null_data,
        msg,
    )
}
