//! Stream Load semantics independent of HTTP: header validation (§1.4), column mapping and
//! `__op` (§1.7), body parsing (CSV/JSON), per-row conversion and filtering (§6), and the
//! atomic apply into a Primary Key table (§1.8, §4.1).

use std::io::Read;
use std::sync::Arc;

use crate::catalog::{KeysType, TableData, TableMeta};
use crate::eval::{self, RowCtx};
use crate::http::Request;
use crate::jsonval::JVal;
use crate::sql::{self, Expr};
use crate::types::{Input, Value, convert};
use serde_json::value::RawValue;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Compression {
    Gzip,
    Deflate,
    Lz4Frame,
    Bzip2,
    Zstd,
}

#[derive(Clone, Debug)]
pub struct LoadParams {
    pub label: Option<String>,
    pub format: Format,
    pub compression: Option<Compression>,
    pub columns: Option<Vec<sql::ColumnItem>>,
    pub where_: Option<Expr>,
    pub column_separator: Vec<u8>,
    pub row_delimiter: Vec<u8>,
    pub skip_header: usize,
    pub trim_space: bool,
    pub enclose: Option<u8>,
    pub escape: Option<u8>,
    pub max_filter_ratio: f64,
    pub timeout_s: u64,
    pub strict_mode: bool,
    pub tz_offset: i64,
    pub partial_update: bool,
    pub merge_condition: Option<String>,
    pub jsonpaths: Option<Vec<String>>,
    pub json_root: Option<String>,
    pub strip_outer_array: bool,
    pub ignore_json_size: bool,
}

/// Errors that fail the whole load before or after the body (Status `Fail`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

fn fail(msg: impl Into<String>) -> LoadError {
    LoadError(msg.into())
}

fn parse_bool(req: &Request, name: &str, msg_name: &str) -> Result<Option<bool>, LoadError> {
    match req.header(name) {
        None => Ok(None),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(fail(format!(
                "Invalid {msg_name} format. Must be bool type"
            ))),
        },
    }
}

/// Separators accept `\xHH` hex escapes and the usual `\t`/`\n` spellings.
fn parse_separator(s: &str) -> Result<Vec<u8>, LoadError> {
    if let Some(hex) = s.strip_prefix("\\x").or_else(|| s.strip_prefix("\\X")) {
        if hex.is_empty() || hex.len() % 2 != 0 {
            return Err(fail(format!("invalid separator: {s}")));
        }
        return (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| fail(format!("invalid separator: {s}")));
    }
    let v = match s {
        "\\t" => b"\t".to_vec(),
        "\\n" => b"\n".to_vec(),
        "\\r\\n" => b"\r\n".to_vec(),
        "" => return Err(fail("column separator is empty")),
        other => other.as_bytes().to_vec(),
    };
    if v.len() > 50 {
        return Err(fail("column separator is limited up to 50 bytes"));
    }
    Ok(v)
}

pub fn label_valid(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 128
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Header checks done before any body byte is read (§9.2).
pub fn parse_params(req: &Request) -> Result<LoadParams, LoadError> {
    let label = req.header("label").map(|s| s.to_string());
    if let Some(l) = &label
        && !label_valid(l)
    {
        return Err(fail(format!(
            "Label format error. regex: ^[-\\w]{{1,128}}$, label: '{l}'"
        )));
    }
    let mut compression = None;
    let format = match req.header("format").map(|f| f.to_ascii_lowercase()) {
        None => Format::Csv,
        Some(f) => match f.as_str() {
            "csv" => Format::Csv,
            "json" => Format::Json,
            "gzip" => {
                compression = Some(Compression::Gzip);
                Format::Csv
            }
            "lz4" => {
                compression = Some(Compression::Lz4Frame);
                Format::Csv
            }
            "deflate" => {
                compression = Some(Compression::Deflate);
                Format::Csv
            }
            "bzip2" => {
                compression = Some(Compression::Bzip2);
                Format::Csv
            }
            "zstd" => {
                compression = Some(Compression::Zstd);
                Format::Csv
            }
            _ => {
                return Err(fail(format!(
                    "unknown data format, format={}",
                    req.header("format").unwrap_or_default()
                )));
            }
        },
    };
    if let Some(c) = req
        .header("compression")
        .or_else(|| req.header("content-encoding"))
    {
        compression = Some(match c.to_ascii_lowercase().as_str() {
            "gzip" => Compression::Gzip,
            "deflate" => Compression::Deflate,
            "lz4" | "lz4_frame" => Compression::Lz4Frame,
            "bzip2" => Compression::Bzip2,
            "zstd" => Compression::Zstd,
            "identity" => return parse_rest(req, label, format, None),
            _ => return Err(fail(format!("unknown compression type: {c}"))),
        });
    }
    parse_rest(req, label, format, compression)
}

fn parse_rest(
    req: &Request,
    label: Option<String>,
    format: Format,
    compression: Option<Compression>,
) -> Result<LoadParams, LoadError> {
    let timeout_s = match req.header("timeout") {
        None => 600,
        Some(t) => match t.trim().parse::<u64>() {
            Ok(v) if (1..=259200).contains(&v) => v,
            _ => return Err(fail("Invalid timeout format")),
        },
    };
    let max_filter_ratio = match req.header("max_filter_ratio") {
        None => 0.0,
        Some(v) => match v.trim().parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => r,
            _ => return Err(fail("Invalid max_filter_ratio format")),
        },
    };
    let strict_mode = parse_bool(req, "strict_mode", "strict mode")?.unwrap_or(false);
    let partial_update = parse_bool(req, "partial_update", "partial_update")?.unwrap_or(false);
    let ignore_json_size =
        parse_bool(req, "ignore_json_size", "ignore_json_size")?.unwrap_or(false);
    // Only the literal `true` enables strip_outer_array (§1.4).
    let strip_outer_array = req
        .header("strip_outer_array")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let columns = match req.header("columns") {
        Some(c) if !c.trim().is_empty() => Some(
            sql::parse_columns_header(c)
                .map_err(|e| fail(format!("Syntax error in columns: {e}")))?,
        ),
        _ => None,
    };
    let where_ = match req.header("where") {
        Some(w) if !w.trim().is_empty() => {
            Some(sql::parse_expr(w).map_err(|e| fail(format!("Syntax error in where: {e}")))?)
        }
        _ => None,
    };
    let tz_offset = match req.header("timezone") {
        None => 8 * 3600,
        Some(z) => eval::tz_offset(z).ok_or_else(|| fail(format!("Unknown time zone: '{z}'")))?,
    };
    let one_byte = |name: &str| -> Result<Option<u8>, LoadError> {
        match req.header(name) {
            None | Some("") => Ok(None),
            Some(v) if v.len() == 1 => Ok(Some(v.as_bytes()[0])),
            Some(v) => Err(fail(format!(
                "{name} must be a single character, got '{v}'"
            ))),
        }
    };
    let jsonpaths = match req.header("jsonpaths") {
        None => None,
        Some(p) => Some(
            serde_json::from_str::<Vec<String>>(p)
                .map_err(|_| fail(format!("Invalid jsonpaths: {p}")))?,
        ),
    };
    Ok(LoadParams {
        label,
        format,
        compression,
        columns,
        where_,
        column_separator: parse_separator(req.header("column_separator").unwrap_or("\\t"))?,
        row_delimiter: parse_separator(req.header("row_delimiter").unwrap_or("\\n"))?,
        skip_header: req
            .header("skip_header")
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| fail("Invalid skip_header format"))
            })
            .transpose()?
            .unwrap_or(0),
        trim_space: parse_bool(req, "trim_space", "trim_space")?.unwrap_or(false),
        enclose: one_byte("enclose")?,
        escape: one_byte("escape")?,
        max_filter_ratio,
        timeout_s,
        strict_mode,
        tz_offset,
        partial_update,
        merge_condition: req
            .header("merge_condition")
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().to_string()),
        jsonpaths,
        json_root: req.header("json_root").map(|s| s.to_string()),
        strip_outer_array,
        ignore_json_size,
    })
}

pub fn decompress(c: Compression, body: Vec<u8>) -> Result<Vec<u8>, LoadError> {
    let mut out = Vec::with_capacity(body.len() * 4);
    let res = match c {
        Compression::Gzip => flate2::read::MultiGzDecoder::new(&body[..]).read_to_end(&mut out),
        Compression::Deflate => flate2::read::ZlibDecoder::new(&body[..]).read_to_end(&mut out),
        Compression::Lz4Frame => {
            lz4_flex::frame::FrameDecoder::new(&body[..]).read_to_end(&mut out)
        }
        Compression::Bzip2 => bzip2::read::MultiBzDecoder::new(&body[..]).read_to_end(&mut out),
        Compression::Zstd => {
            let mut src = &body[..];
            match ruzstd::decoding::StreamingDecoder::new(&mut src) {
                Ok(mut d) => d.read_to_end(&mut out),
                Err(e) => return Err(fail(format!("failed to decompress body: {e}"))),
            }
        }
    };
    res.map_err(|e| fail(format!("failed to decompress body: {e}")))?;
    Ok(out)
}

/// Where a table column's value comes from.
#[derive(Clone, Debug)]
enum Source {
    Field(usize),
    Expr(Expr),
    Absent,
}

#[derive(Clone, Debug)]
enum OpSource {
    None,
    /// Per-record `__op` key of a JSON object without a `columns` header.
    JsonKey,
    Field(usize),
    Const(u8),
    Expr(Expr),
}

/// Column mapping resolved against the table schema (the "plan").
pub struct Plan {
    pub meta: Arc<TableMeta>,
    /// Names of the source fields in order (CSV positions / JSON keys / jsonpaths order).
    fields: Vec<String>,
    targets: Vec<Source>,
    op: OpSource,
    /// Which table columns the load writes (partial update).
    present: Vec<bool>,
    merge_idx: Option<usize>,
}

pub fn plan(params: &LoadParams, meta: Arc<TableMeta>) -> Result<Plan, LoadError> {
    let is_pk = meta.keys_type == KeysType::Primary;
    if params.partial_update && !is_pk {
        return Err(fail("Only primary key table support partial update"));
    }
    let mut fields: Vec<String> = Vec::new();
    let mut targets = vec![Source::Absent; meta.columns.len()];
    let mut op = OpSource::None;
    match &params.columns {
        None => {
            fields = meta.columns.iter().map(|c| c.name.clone()).collect();
            for (i, t) in targets.iter_mut().enumerate() {
                *t = Source::Field(i);
            }
            if is_pk && params.format == Format::Json && params.jsonpaths.is_none() {
                op = OpSource::JsonKey;
            }
        }
        Some(items) => {
            for item in items.iter().filter(|i| i.expr.is_none()) {
                fields.push(item.name.clone());
            }
            let referenced: Vec<String> = items
                .iter()
                .filter_map(|i| i.expr.as_ref())
                .flat_map(column_refs)
                .collect();
            for (fi, name) in fields.iter().enumerate() {
                if name.eq_ignore_ascii_case("__op") {
                    op = OpSource::Field(fi);
                } else if let Some(ci) = meta.column_index(name) {
                    targets[ci] = Source::Field(fi);
                } else if !referenced.iter().any(|r| r.eq_ignore_ascii_case(name)) {
                    return Err(fail(format!("Unknown column '{name}' in '{}'", meta.name)));
                }
            }
            for item in items.iter().filter(|i| i.expr.is_some()) {
                let expr = item.expr.clone().expect("filtered");
                if item.name.eq_ignore_ascii_case("__op") {
                    op = match &expr {
                        Expr::Str(s) => match s.to_ascii_lowercase().as_str() {
                            "upsert" => OpSource::Const(0),
                            "delete" => OpSource::Const(1),
                            _ => return Err(fail("load op type string not supported")),
                        },
                        Expr::Int(0) => OpSource::Const(0),
                        Expr::Int(1) => OpSource::Const(1),
                        _ => OpSource::Expr(expr),
                    };
                } else if let Some(ci) = meta.column_index(&item.name) {
                    targets[ci] = Source::Expr(expr);
                } else {
                    return Err(fail(format!(
                        "Unknown column '{}' in '{}'",
                        item.name, meta.name
                    )));
                }
            }
        }
    }
    if !is_pk && !matches!(op, OpSource::None | OpSource::JsonKey) {
        // `__op` is only understood by Primary Key tables.
        return Err(fail(format!("Unknown column '__op' in '{}'", meta.name)));
    }
    let present: Vec<bool> = targets
        .iter()
        .map(|t| !matches!(t, Source::Absent))
        .collect();
    if params.partial_update {
        for (i, c) in meta.columns[..meta.key_count].iter().enumerate() {
            if !present[i] {
                return Err(fail(format!(
                    "partial update must include all primary key columns, missing: {}",
                    c.name
                )));
            }
        }
    } else {
        for (i, c) in meta.columns.iter().enumerate() {
            if !present[i] && !c.has_default() {
                return Err(fail(format!(
                    "Column has no default value. column: {}",
                    c.name
                )));
            }
        }
    }
    let merge_idx = match &params.merge_condition {
        None => None,
        Some(m) => {
            if !is_pk {
                return Err(fail("Only primary key table support merge condition"));
            }
            let idx = meta
                .column_index(m)
                .ok_or_else(|| fail(format!("Merge condition column {m} does not exist")))?;
            if idx < meta.key_count {
                return Err(fail(format!(
                    "Merge condition column {m} should not be primary key!"
                )));
            }
            Some(idx)
        }
    };
    Ok(Plan {
        meta,
        fields,
        targets,
        op,
        present,
        merge_idx,
    })
}

fn column_refs(e: &Expr) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(e: &Expr, out: &mut Vec<String>) {
        match e {
            Expr::Col(c) => out.push(c.clone()),
            Expr::Cmp(a, _, b) | Expr::And(a, b) | Expr::Or(a, b) | Expr::Arith(a, _, b) => {
                walk(a, out);
                walk(b, out);
            }
            Expr::Not(a) | Expr::Neg(a) | Expr::IsNull(a, _) | Expr::Like(a, _, _) => walk(a, out),
            Expr::In { expr, list, .. } => {
                walk(expr, out);
                list.iter().for_each(|x| walk(x, out));
            }
            Expr::Func(_, args) => args.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(e, &mut out);
    out
}

#[derive(Clone, Debug)]
pub enum RowOp {
    Upsert(Vec<Value>),
    Delete(Vec<Value>),
}

/// Result of reading and converting a body; applying it cannot fail (atomicity).
pub struct Prepared {
    pub ops: Vec<RowOp>,
    pub total: u64,
    pub filtered: u64,
    pub unselected: u64,
    pub error_rows: Vec<String>,
    pub schema_version: u64,
    pub present: Vec<bool>,
    pub partial: bool,
    pub merge_idx: Option<usize>,
    pub meta: Arc<TableMeta>,
}

impl Prepared {
    pub fn loaded(&self) -> u64 {
        self.total - self.filtered - self.unselected
    }
}

/// One record of the body, before conversion.
enum Record<'a> {
    Csv(Vec<Option<std::borrow::Cow<'a, str>>>, &'a [u8]),
    Json(&'a JVal),
    Bad(String, String),
}

struct ExprCtx<'a> {
    fields: &'a [String],
    values: &'a [Value],
    tz: i64,
}

impl RowCtx for ExprCtx<'_> {
    fn col(&self, name: &str) -> Result<Value, String> {
        self.fields
            .iter()
            .position(|f| f.eq_ignore_ascii_case(name))
            .map(|i| self.values[i].clone())
            .ok_or_else(|| format!("Unknown column '{name}'"))
    }
    fn tz_offset(&self) -> i64 {
        self.tz
    }
}

/// Reads the body and converts every record; decides filtered/unselected rows.
pub fn process(params: &LoadParams, plan: &Plan, body: &[u8]) -> Result<Prepared, LoadError> {
    let meta = &plan.meta;
    let mut prepared = Prepared {
        ops: Vec::new(),
        total: 0,
        filtered: 0,
        unselected: 0,
        error_rows: Vec::new(),
        schema_version: meta.schema_version,
        present: plan.present.clone(),
        partial: params.partial_update,
        merge_idx: plan.merge_idx,
        meta: meta.clone(),
    };
    let json_docs: Vec<Result<JVal, String>>;
    let mut records: Vec<Record<'_>> = Vec::new();
    match params.format {
        Format::Csv => {
            let text_rows = split_csv(params, body);
            for (fields, raw) in text_rows.into_iter().skip(params.skip_header) {
                records.push(Record::Csv(fields, raw));
            }
        }
        Format::Json => {
            json_docs = parse_json_docs(body);
            for doc in &json_docs {
                collect_json_records(params, doc, &mut records);
            }
        }
    }
    let tz = params.tz_offset;
    let mut row_buf: Vec<Value> = Vec::with_capacity(meta.columns.len());
    let mut field_vals: Vec<Value> = Vec::new();
    prepared.ops.reserve(records.len());
    for rec in &records {
        prepared.total += 1;
        let reject = |reason: String, raw: String, p: &mut Prepared| {
            p.filtered += 1;
            if p.error_rows.len() < 10_000 {
                p.error_rows.push(format!("Error: {reason}. Row: {raw}"));
            }
        };
        // Gather source inputs per field.
        let inputs: Vec<Input<'_>> = match rec {
            Record::Bad(reason, raw) => {
                reject(reason.clone(), raw.clone(), &mut prepared);
                continue;
            }
            Record::Csv(fields, _) => {
                if fields.len() != plan.fields.len() {
                    let raw = render_raw(rec);
                    reject(
                        format!(
                            "Value count does not match column count. Expect {}, but got {}",
                            plan.fields.len(),
                            fields.len()
                        ),
                        raw,
                        &mut prepared,
                    );
                    continue;
                }
                fields
                    .iter()
                    .map(|f| match f {
                        None => Input::Null,
                        Some(s) => Input::Text(s),
                    })
                    .collect()
            }
            Record::Json(obj) => match &params.jsonpaths {
                Some(paths) => paths
                    .iter()
                    .map(|p| match json_path(obj, p) {
                        Some(v) => Input::Json(v),
                        None => Input::Null,
                    })
                    .collect(),
                None => plan
                    .fields
                    .iter()
                    .map(|f| match obj_get(obj, f) {
                        Some(v) => Input::Json(v),
                        // A missing key takes the column default (NULL when there is none).
                        None => Input::Missing,
                    })
                    .collect(),
            },
        };
        // Derived expressions see the raw source fields as text values.
        let needs_exprs = plan.targets.iter().any(|t| matches!(t, Source::Expr(_)))
            || matches!(plan.op, OpSource::Expr(_));
        if needs_exprs {
            field_vals.clear();
            field_vals.extend(inputs.iter().map(input_as_value));
        }
        let ctx = ExprCtx {
            fields: &plan.fields,
            values: &field_vals,
            tz,
        };
        // __op
        let op = match &plan.op {
            OpSource::None => 0u8,
            OpSource::Const(c) => *c,
            OpSource::JsonKey => match rec {
                Record::Json(obj) => match obj_get(obj, "__op") {
                    None => 0,
                    Some(v) => match parse_op(Input::Json(v)) {
                        Ok(o) => o,
                        Err(reason) => {
                            reject(reason, render_raw(rec), &mut prepared);
                            continue;
                        }
                    },
                },
                _ => 0,
            },
            OpSource::Field(i) => match parse_op(inputs.get(*i).copied().unwrap_or(Input::Null)) {
                Ok(o) => o,
                Err(reason) => {
                    reject(reason, render_raw(rec), &mut prepared);
                    continue;
                }
            },
            OpSource::Expr(e) => {
                let v = eval::eval(e, &ctx).unwrap_or(Value::Null);
                let text = v.to_text();
                match parse_op(match &text {
                    Some(t) => Input::Text(t),
                    None => Input::Null,
                }) {
                    Ok(o) => o,
                    Err(reason) => {
                        reject(reason, render_raw(rec), &mut prepared);
                        continue;
                    }
                }
            }
        };
        // Convert each target column.
        row_buf.clear();
        let mut bad: Option<String> = None;
        for (ci, col) in meta.columns.iter().enumerate() {
            let converted = match &plan.targets[ci] {
                Source::Absent => Ok(col.default_value()),
                Source::Field(fi) => match inputs.get(*fi).copied().unwrap_or(Input::Null) {
                    Input::Missing => Ok(col.default_value()),
                    input => convert(input, &col.ty),
                },
                Source::Expr(e) => match eval::eval(e, &ctx) {
                    Ok(v) => match v.to_text() {
                        None => Ok(Value::Null),
                        Some(t) => convert(Input::Text(&t), &col.ty),
                    },
                    Err(e) => Err(crate::types::ConvError(e)),
                },
            };
            let v = match converted {
                Ok(v) => v,
                Err(e) => {
                    if params.strict_mode {
                        bad = Some(e.0);
                        break;
                    }
                    Value::Null
                }
            };
            if v.is_null() && !col.nullable && (plan.present[ci] || !params.partial_update) {
                bad = Some(format!("NULL value in non-nullable column '{}'", col.name));
                break;
            }
            row_buf.push(v);
        }
        if let Some(reason) = bad {
            reject(reason, render_raw(rec), &mut prepared);
            continue;
        }
        if let Some(w) = &params.where_ {
            let wctx = TableRowCtx {
                meta,
                row: &row_buf,
            };
            if eval::truth(&eval::eval(w, &wctx).unwrap_or(Value::Null)) != Some(true) {
                prepared.unselected += 1;
                continue;
            }
        }
        if meta.keys_type == KeysType::Primary {
            let key_bytes: usize = meta.columns[..meta.key_count]
                .iter()
                .zip(&row_buf)
                .map(|(c, v)| v.key_bytes(&c.ty))
                .sum();
            if key_bytes > 128 {
                return Err(fail("primary key size exceed the limit."));
            }
        }
        let row = std::mem::take(&mut row_buf);
        row_buf.reserve(meta.columns.len());
        prepared.ops.push(if op == 1 {
            RowOp::Delete(row[..meta.key_count].to_vec())
        } else {
            RowOp::Upsert(row)
        });
    }
    Ok(prepared)
}

struct TableRowCtx<'a> {
    meta: &'a TableMeta,
    row: &'a [Value],
}

impl RowCtx for TableRowCtx<'_> {
    fn col(&self, name: &str) -> Result<Value, String> {
        self.meta
            .column_index(name)
            .map(|i| self.row[i].clone())
            .ok_or_else(|| format!("Unknown column '{name}'"))
    }
}

fn input_as_value(i: &Input<'_>) -> Value {
    match i {
        Input::Null | Input::Missing => Value::Null,
        Input::Text(t) => Value::Str(t.to_string()),
        Input::Json(JVal::Null) => Value::Null,
        Input::Json(JVal::Str(s)) => Value::Str(s.clone()),
        // A number is seen by `columns` expressions as its source text.
        Input::Json(JVal::Num(t)) => Value::Str(t.to_string()),
        Input::Json(v) => Value::Str(v.to_string()),
    }
}

fn parse_op(i: Input<'_>) -> Result<u8, String> {
    let text = match i {
        Input::Null | Input::Missing | Input::Json(JVal::Null) => {
            return Err("NULL value in non-nullable column '__op'".into());
        }
        Input::Text(t) => t.trim().to_string(),
        Input::Json(JVal::Str(s)) => s.trim().to_string(),
        Input::Json(JVal::Bool(b)) => (*b as u8).to_string(),
        Input::Json(JVal::Num(t)) => t.to_string(),
        Input::Json(v) => v.to_string(),
    };
    match text.as_str() {
        "0" => Ok(0),
        "1" => Ok(1),
        other => Err(format!(
            "Invalid __op value '{other}', must be 0 (upsert) or 1 (delete)"
        )),
    }
}

fn obj_get<'a>(obj: &'a JVal, key: &str) -> Option<&'a JVal> {
    let map = obj.as_object()?;
    obj.get(key).or_else(|| {
        // Column names are case-insensitive; fall back to a case-insensitive key match.
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Minimal JSON path: `$`, `$.a.b`, `$.a[0]`, `$['a']`.
pub fn json_path<'a>(v: &'a JVal, path: &str) -> Option<&'a JVal> {
    let p = path.trim();
    let rest = p.strip_prefix('$').unwrap_or(p);
    let mut cur = v;
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'.' && b[j] != b'[' {
                    j += 1;
                }
                cur = cur.get(&rest[start..j])?;
                i = j;
            }
            b'[' => {
                let end = rest[i..].find(']')? + i;
                let inner = rest[i + 1..end].trim();
                if let Some(q) = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                {
                    cur = cur.get(q)?;
                } else {
                    cur = cur.index(inner.parse::<usize>().ok()?)?;
                }
                i = end + 1;
            }
            _ => {
                // Bare key without a leading dot (e.g. "id").
                let mut j = i;
                while j < b.len() && b[j] != b'.' && b[j] != b'[' {
                    j += 1;
                }
                cur = cur.get(&rest[i..j])?;
                i = j;
            }
        }
    }
    Some(cur)
}

/// Top-level JSON documents, numbers kept as their source text; a syntax error ends the list
/// with an `Err` carrying serde_json's message.
fn parse_json_docs(body: &[u8]) -> Vec<Result<JVal, String>> {
    let mut docs = Vec::new();
    let stream = serde_json::Deserializer::from_slice(body).into_iter::<&RawValue>();
    for doc in stream {
        match doc.and_then(JVal::from_raw) {
            Ok(v) => docs.push(Ok(v)),
            Err(e) => {
                docs.push(Err(e.to_string()));
                break;
            }
        }
    }
    docs
}

fn collect_json_records<'a>(
    params: &LoadParams,
    doc: &'a Result<JVal, String>,
    out: &mut Vec<Record<'a>>,
) {
    let doc = match doc {
        Ok(doc) => doc,
        Err(err) => {
            out.push(Record::Bad(
                format!("JSON parse error: {err}"),
                "<invalid json>".into(),
            ));
            return;
        }
    };
    let root = match &params.json_root {
        Some(r) => match json_path(doc, r) {
            Some(v) => v,
            None => {
                out.push(Record::Bad(
                    format!("JSON Root not found: {r}"),
                    truncate(&doc.to_string()),
                ));
                return;
            }
        },
        None => doc,
    };
    if params.strip_outer_array {
        match root.as_array() {
            Some(arr) => {
                for el in arr {
                    if el.is_object() {
                        out.push(Record::Json(el));
                    } else {
                        out.push(Record::Bad(
                            "JSON data is not an object".into(),
                            truncate(&el.to_string()),
                        ));
                    }
                }
            }
            None => out.push(Record::Bad(
                "JSON data is an object, strip_outer_array must be set false".into(),
                truncate(&root.to_string()),
            )),
        }
    } else if root.is_object() {
        out.push(Record::Json(root));
    } else if root.is_array() {
        out.push(Record::Bad(
            "JSON data is an array, strip_outer_array must be set true".into(),
            truncate(&root.to_string()),
        ));
    } else {
        out.push(Record::Bad(
            "JSON data is not an object".into(),
            truncate(&root.to_string()),
        ));
    }
}

fn truncate(s: &str) -> String {
    if s.len() <= 1000 {
        return s.to_string();
    }
    let mut end = 1000;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

fn render_raw(rec: &Record<'_>) -> String {
    match rec {
        Record::Csv(_, raw) => truncate(&String::from_utf8_lossy(raw)),
        Record::Json(v) => truncate(&v.to_string()),
        Record::Bad(_, raw) => raw.clone(),
    }
}

type CsvRow<'a> = (Vec<Option<std::borrow::Cow<'a, str>>>, &'a [u8]);

/// The common case, without enclose or escape: rows and fields are cut at the delimiter and
/// separator bytes. The body is checked as UTF-8 once; a field is read lossily only when the
/// body is not valid UTF-8 or a cut falls inside a character (a separator or delimiter that is
/// not valid UTF-8 itself: a valid one matches valid text only at character boundaries).
fn split_plain_csv<'a>(params: &LoadParams, body: &'a [u8]) -> Vec<CsvRow<'a>> {
    let text = std::str::from_utf8(body).ok();
    let to_field = |start: usize, end: usize| -> Option<std::borrow::Cow<'a, str>> {
        let s = match text.and_then(|t| t.get(start..end)) {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => String::from_utf8_lossy(&body[start..end]),
        };
        let s = match s {
            std::borrow::Cow::Borrowed(b) if params.trim_space => {
                std::borrow::Cow::Borrowed(b.trim())
            }
            std::borrow::Cow::Owned(o) if params.trim_space => {
                std::borrow::Cow::Owned(o.trim().to_string())
            }
            s => s,
        };
        if s == "\\N" { None } else { Some(s) }
    };
    let sep = memchr::memmem::Finder::new(&params.column_separator);
    let delim = memchr::memmem::Finder::new(&params.row_delimiter);
    let mut rows = Vec::new();
    let mut start = 0;
    while start < body.len() {
        let end = delim.find(&body[start..]).map_or(body.len(), |p| start + p);
        let line_start = start;
        start = end + params.row_delimiter.len();
        if end == line_start {
            continue;
        }
        let mut fields = Vec::new();
        let mut fs = line_start;
        while let Some(p) = sep.find(&body[fs..end]) {
            fields.push(to_field(fs, fs + p));
            fs += p + params.column_separator.len();
        }
        fields.push(to_field(fs, end));
        rows.push((fields, &body[line_start..end]));
    }
    rows
}

/// Splits CSV text into rows of fields; `\N` is NULL. With `enclose`, separators and
/// delimiters inside enclosed fields are data; `escape` escapes the next byte.
fn split_csv<'a>(params: &LoadParams, body: &'a [u8]) -> Vec<CsvRow<'a>> {
    let mut rows = Vec::new();
    let sep = &params.column_separator[..];
    let delim = &params.row_delimiter[..];
    if params.enclose.is_none() && params.escape.is_none() {
        return split_plain_csv(params, body);
    }
    // Slow path with enclose/escape.
    let enclose = params.enclose;
    let escape = params.escape;
    let mut i = 0;
    while i < body.len() {
        let row_start = i;
        let mut fields: Vec<Option<std::borrow::Cow<'a, str>>> = Vec::new();
        let mut cur: Vec<u8> = Vec::new();
        let mut in_enc = false;
        let mut was_enclosed = false;
        let mut row_end = body.len();
        let mut next = body.len();
        while i < body.len() {
            let c = body[i];
            if Some(c) == escape && i + 1 < body.len() {
                cur.push(body[i + 1]);
                i += 2;
                continue;
            }
            if in_enc {
                if Some(c) == enclose {
                    if body.get(i + 1) == enclose.as_ref() {
                        cur.push(c);
                        i += 2;
                        continue;
                    }
                    in_enc = false;
                } else {
                    cur.push(c);
                }
                i += 1;
                continue;
            }
            if Some(c) == enclose && cur.is_empty() {
                in_enc = true;
                was_enclosed = true;
                i += 1;
                continue;
            }
            if body[i..].starts_with(sep) {
                fields.push(finish_field(&cur, was_enclosed, params.trim_space));
                cur.clear();
                was_enclosed = false;
                i += sep.len();
                continue;
            }
            if body[i..].starts_with(delim) {
                row_end = i;
                next = i + delim.len();
                break;
            }
            cur.push(c);
            i += 1;
        }
        fields.push(finish_field(&cur, was_enclosed, params.trim_space));
        let raw = &body[row_start..row_end.min(body.len())];
        i = next;
        if raw.is_empty() {
            continue;
        }
        rows.push((fields, raw));
    }
    rows
}

fn finish_field<'a>(cur: &[u8], enclosed: bool, trim: bool) -> Option<std::borrow::Cow<'a, str>> {
    let s = String::from_utf8_lossy(cur).into_owned();
    let s = if trim && !enclosed {
        s.trim().to_string()
    } else {
        s
    };
    if !enclosed && s == "\\N" {
        None
    } else {
        Some(std::borrow::Cow::Owned(s))
    }
}

/// Applies a prepared load to the table. Rows are applied in body order, so the last row
/// per key wins (§4.1). Stored rows written under an older schema are remapped by name.
pub fn apply(td: &mut TableData, p: Prepared) -> (u64, u64) {
    let meta = td.meta.clone();
    let remap: Option<Vec<Option<usize>>> = if p.schema_version != meta.schema_version {
        Some(
            meta.columns
                .iter()
                .map(|c| p.meta.column_index(&c.name))
                .collect(),
        )
    } else {
        None
    };
    let defaults: Vec<Value> = meta.columns.iter().map(|c| c.default_value()).collect();
    let mut upserts = 0;
    let mut deletes = 0;
    for op in p.ops {
        match op {
            RowOp::Delete(key) => {
                deletes += 1;
                td.rows.remove(&key);
            }
            RowOp::Upsert(row) => {
                upserts += 1;
                let (row, present): (Vec<Value>, Vec<bool>) = match &remap {
                    None => (row, p.present.clone()),
                    Some(map) => (
                        map.iter()
                            .enumerate()
                            .map(|(i, m)| m.map(|j| row[j].clone()).unwrap_or(defaults[i].clone()))
                            .collect(),
                        map.iter()
                            .map(|m| m.is_some_and(|j| p.present[j]))
                            .collect(),
                    ),
                };
                let merge_idx = p
                    .merge_idx
                    .and_then(|i| p.meta.columns.get(i))
                    .and_then(|c| meta.column_index(&c.name));
                if meta.keys_type == KeysType::Duplicate {
                    let key = td.key_of(&row);
                    td.rows.insert(key, row);
                    continue;
                }
                let key = row[..meta.key_count].to_vec();
                match td.rows.get_mut(&key) {
                    Some(existing) => {
                        if let Some(mi) = merge_idx
                            && row[mi].total_cmp(&existing[mi]) == std::cmp::Ordering::Less
                        {
                            continue;
                        }
                        if p.partial {
                            for (i, v) in row.into_iter().enumerate() {
                                if present[i] {
                                    existing[i] = v;
                                }
                            }
                        } else {
                            *existing = row;
                        }
                    }
                    None => {
                        let row = if p.partial {
                            row.into_iter()
                                .enumerate()
                                .map(|(i, v)| if present[i] { v } else { defaults[i].clone() })
                                .collect()
                        } else {
                            row
                        };
                        td.rows.insert(key, row);
                    }
                }
            }
        }
    }
    (upserts, deletes)
}

/// JSON body for a finished Stream Load, in the field order of §2.1.
#[derive(serde::Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct LoadResponse {
    pub txn_id: i64,
    pub label: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_job_status: Option<String>,
    pub message: String,
    pub number_total_rows: u64,
    pub number_loaded_rows: u64,
    pub number_filtered_rows: u64,
    pub number_unselected_rows: u64,
    pub load_bytes: u64,
    pub load_time_ms: u64,
    pub begin_txn_time_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_load_plan_time_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_load_put_time_ms: Option<u64>,
    pub read_data_time_ms: u64,
    pub write_data_time_ms: u64,
    pub commit_and_publish_time_ms: u64,
    #[serde(rename = "ErrorURL", skip_serializing_if = "Option::is_none")]
    pub error_url: Option<String>,
}

/// Pretty-prints with StarRocks' 4-space indent.
pub fn pretty(v: &impl serde::Serialize) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).expect("serializable");
    String::from_utf8(out).expect("utf8 json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(sep: &[u8], delim: &[u8], trim_space: bool) -> LoadParams {
        LoadParams {
            label: None,
            format: Format::Csv,
            compression: None,
            columns: None,
            where_: None,
            column_separator: sep.to_vec(),
            row_delimiter: delim.to_vec(),
            skip_header: 0,
            trim_space,
            enclose: None,
            escape: None,
            max_filter_ratio: 0.0,
            timeout_s: 600,
            strict_mode: false,
            tz_offset: 0,
            partial_update: false,
            merge_condition: None,
            jsonpaths: None,
            json_root: None,
            strip_outer_array: false,
            ignore_json_size: false,
        }
    }

    /// Each row's fields (`None` for `\N`) and its raw line, as text.
    fn split(p: &LoadParams, body: &[u8]) -> Vec<(Vec<Option<String>>, String)> {
        split_csv(p, body)
            .into_iter()
            .map(|(fields, raw)| {
                let fields = fields.into_iter().map(|f| f.map(|f| f.into_owned()));
                (fields.collect(), String::from_utf8_lossy(raw).into_owned())
            })
            .collect()
    }

    fn row(fields: &[Option<&str>], raw: &str) -> (Vec<Option<String>>, String) {
        let fields = fields.iter().map(|f| f.map(str::to_string)).collect();
        (fields, raw.to_string())
    }

    #[test]
    fn empty_lines_are_skipped_and_backslash_n_is_null() {
        let p = params(b"\x01", b"\n", false);
        assert_eq!(
            split(&p, b"a\x01b\n\nc\x01\\N\n"),
            vec![
                row(&[Some("a"), Some("b")], "a\x01b"),
                row(&[Some("c"), None], "c\x01\\N"),
            ]
        );
    }

    #[test]
    fn a_body_without_a_last_delimiter_ends_its_last_row() {
        let p = params(b"\x01", b"\n", false);
        assert_eq!(
            split(&p, b"a\x01\nb"),
            vec![row(&[Some("a"), Some("")], "a\x01"), row(&[Some("b")], "b")]
        );
    }

    #[test]
    fn separators_and_delimiters_of_several_bytes() {
        let p = params(b"||", b"\r\n", false);
        assert_eq!(
            split(&p, b"a||b|c\r\nd\r\n"),
            vec![
                row(&[Some("a"), Some("b|c")], "a||b|c"),
                row(&[Some("d")], "d")
            ]
        );
    }

    #[test]
    fn trim_space_trims_before_the_null_check() {
        let p = params(b"\x01", b"\n", true);
        assert_eq!(
            split(&p, b" a \x01 \\N \n"),
            vec![row(&[Some("a"), None], " a \x01 \\N ")]
        );
    }

    #[test]
    fn invalid_utf8_is_read_lossily_per_field() {
        let p = params(b"\x01", b"\n", false);
        assert_eq!(
            split(&p, b"a\xff\x01\xc3\xa9\n"),
            vec![row(
                &[Some("a\u{fffd}"), Some("\u{e9}")],
                "a\u{fffd}\x01\u{e9}"
            )]
        );
    }

    #[test]
    fn a_separator_that_cuts_inside_a_character_reads_the_pieces_lossily() {
        // 0xA9 is the second byte of "©" (C2 A9): the cut leaves a lone C2 in the first field.
        let p = params(b"\xa9", b"\n", false);
        assert_eq!(
            split(&p, "x©y\n".as_bytes()),
            vec![row(&[Some("x\u{fffd}"), Some("y")], "x©y")]
        );
    }
}
