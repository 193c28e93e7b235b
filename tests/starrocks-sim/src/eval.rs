//! Expression evaluation shared by SELECT/WHERE and Stream Load `columns`/`where` headers.

use std::cmp::Ordering;

use crate::sql::Expr;
use crate::types::{Value, parse_decimal};

/// Supplies column values and session facts to the evaluator.
pub trait RowCtx {
    fn col(&self, name: &str) -> Result<Value, String>;
    fn var(&self, _name: &str) -> Result<Value, String> {
        Err("Unknown system variable".into())
    }
    fn func(&self, _name: &str) -> Option<Value> {
        None
    }
    /// Time zone offset in seconds for FROM_UNIXTIME (Stream Load `timezone` header, §7).
    fn tz_offset(&self) -> i64 {
        8 * 3600
    }
}

pub fn literal(e: &Expr) -> Option<Value> {
    Some(match e {
        Expr::Null => Value::Null,
        Expr::Int(i) => Value::Int(*i),
        Expr::Num(n) => {
            let scale = n.split_once('.').map(|(_, f)| f.len()).unwrap_or(0) as u8;
            match parse_decimal(n, 38, scale.min(38)) {
                Some(u) if !n.contains(['e', 'E']) => Value::Decimal(u, scale),
                _ => Value::Float(n.parse().ok()?),
            }
        }
        Expr::Str(s) => Value::Str(s.clone()),
        Expr::Bool(b) => Value::Bool(*b),
        _ => return None,
    })
}

pub fn eval(e: &Expr, ctx: &dyn RowCtx) -> Result<Value, String> {
    if let Some(v) = literal(e) {
        return Ok(v);
    }
    Ok(match e {
        Expr::Col(c) => ctx.col(c)?,
        Expr::Var(v) => ctx.var(v)?,
        Expr::Star => return Err("'*' is not allowed here".into()),
        Expr::Cmp(l, op, r) => {
            let (a, b) = (eval(l, ctx)?, eval(r, ctx)?);
            if a.is_null() || b.is_null() {
                return Ok(Value::Null);
            }
            let ord = compare(&a, &b);
            Value::Bool(match *op {
                "=" => ord == Ordering::Equal,
                "!=" | "<>" => ord != Ordering::Equal,
                "<" => ord == Ordering::Less,
                "<=" => ord != Ordering::Greater,
                ">" => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            })
        }
        Expr::And(l, r) => match (truth(&eval(l, ctx)?), truth(&eval(r, ctx)?)) {
            (Some(false), _) | (_, Some(false)) => Value::Bool(false),
            (Some(true), Some(true)) => Value::Bool(true),
            _ => Value::Null,
        },
        Expr::Or(l, r) => match (truth(&eval(l, ctx)?), truth(&eval(r, ctx)?)) {
            (Some(true), _) | (_, Some(true)) => Value::Bool(true),
            (Some(false), Some(false)) => Value::Bool(false),
            _ => Value::Null,
        },
        Expr::Not(x) => match truth(&eval(x, ctx)?) {
            Some(b) => Value::Bool(!b),
            None => Value::Null,
        },
        Expr::In { expr, list, neg } => {
            let v = eval(expr, ctx)?;
            if v.is_null() {
                return Ok(Value::Null);
            }
            let mut found = false;
            for item in list {
                if compare(&v, &eval(item, ctx)?) == Ordering::Equal {
                    found = true;
                    break;
                }
            }
            Value::Bool(found != *neg)
        }
        Expr::IsNull(x, neg) => Value::Bool(eval(x, ctx)?.is_null() != *neg),
        Expr::Like(x, pat, neg) => {
            let v = eval(x, ctx)?;
            match v.to_text() {
                None => Value::Null,
                Some(t) => Value::Bool(like(&t, pat) != *neg),
            }
        }
        Expr::Neg(x) => match eval(x, ctx)? {
            Value::Int(i) => Value::Int(-i),
            Value::Decimal(u, s) => Value::Decimal(-u, s),
            other => other
                .as_f64()
                .map(|f| Value::Float(-f))
                .unwrap_or(Value::Null),
        },
        Expr::Arith(l, op, r) => {
            let (a, b) = (eval(l, ctx)?, eval(r, ctx)?);
            match (&a, &b) {
                (Value::Null, _) | (_, Value::Null) => Value::Null,
                (Value::Int(x), Value::Int(y)) if *op != "/" => match *op {
                    "+" => Value::Int(x + y),
                    "-" => Value::Int(x - y),
                    "*" => Value::Int(x * y),
                    _ if *y == 0 => Value::Null,
                    _ => Value::Int(x % y),
                },
                _ => match (a.as_f64(), b.as_f64()) {
                    (Some(x), Some(y)) => Value::Float(match *op {
                        "+" => x + y,
                        "-" => x - y,
                        "*" => x * y,
                        "/" => x / y,
                        _ => x % y,
                    }),
                    _ => Value::Null,
                },
            }
        }
        Expr::Func(name, args) => func(name, args, ctx)?,
        _ => return Err("unsupported expression".into()),
    })
}

fn func(name: &str, args: &[Expr], ctx: &dyn RowCtx) -> Result<Value, String> {
    if let Some(v) = ctx.func(name) {
        return Ok(v);
    }
    let arg = |i: usize| -> Result<Value, String> {
        args.get(i)
            .map(|a| eval(a, ctx))
            .unwrap_or(Err(format!("No matching function with signature: {name}")))
    };
    Ok(match name {
        "" => return Err("row value is not supported here".into()),
        "IFNULL" | "COALESCE" | "NVL" => {
            for a in args {
                let v = eval(a, ctx)?;
                if !v.is_null() {
                    return Ok(v);
                }
            }
            Value::Null
        }
        "CONCAT" => {
            let mut s = String::new();
            for a in args {
                match eval(a, ctx)?.to_text() {
                    Some(t) => s.push_str(&t),
                    None => return Ok(Value::Null),
                }
            }
            Value::Str(s)
        }
        "UPPER" | "UCASE" => text_map(arg(0)?, |s| s.to_uppercase()),
        "LOWER" | "LCASE" => text_map(arg(0)?, |s| s.to_lowercase()),
        "FROM_UNIXTIME" => match arg(0)?.as_f64() {
            Some(secs) => Value::Str(crate::catalog::epoch_to_datetime(
                secs as i64 + ctx.tz_offset(),
            )),
            None => Value::Null,
        },
        "NOW" | "CURRENT_TIMESTAMP" => Value::Str(crate::catalog::epoch_to_datetime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
                + ctx.tz_offset(),
        )),
        "VERSION" => Value::Str("8.0.33".into()),
        "CONNECTION_ID" => Value::Int(1),
        _ => {
            return Err(format!(
                "No matching function with signature: {}",
                name.to_lowercase()
            ));
        }
    })
}

fn text_map(v: Value, f: impl Fn(&str) -> String) -> Value {
    match v.to_text() {
        Some(t) => Value::Str(f(&t)),
        None => Value::Null,
    }
}

/// SQL comparison with numeric coercion between strings and numbers.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Str(_), _) | (_, Value::Str(_)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => a
                .to_text()
                .unwrap_or_default()
                .cmp(&b.to_text().unwrap_or_default()),
        },
        _ => a.total_cmp(b),
    }
}

pub fn truth(v: &Value) -> Option<bool> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(*b),
        other => other.as_f64().map(|f| f != 0.0),
    }
}

/// SQL LIKE with `%` and `_`, case-insensitive like MySQL's default collation.
pub fn like(s: &str, pat: &str) -> bool {
    fn rec(s: &[char], p: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('%') => (0..=s.len()).any(|i| rec(&s[i..], &p[1..])),
            Some('_') => !s.is_empty() && rec(&s[1..], &p[1..]),
            Some('\\') if p.len() > 1 => !s.is_empty() && s[0] == p[1] && rec(&s[1..], &p[2..]),
            Some(c) => !s.is_empty() && s[0].eq_ignore_ascii_case(c) && rec(&s[1..], &p[1..]),
        }
    }
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = pat.chars().collect();
    rec(&s, &p)
}

/// Offset in seconds for the zones a load's `timezone` header may carry. DST zones other
/// than fixed ones are not modelled (StarRocks' default zone, Asia/Shanghai, has no DST).
pub fn tz_offset(name: &str) -> Option<i64> {
    let n = name.trim();
    match n.to_ascii_lowercase().as_str() {
        "utc" | "gmt" | "etc/utc" | "z" | "+00:00" => return Some(0),
        "asia/shanghai" | "asia/hong_kong" | "asia/singapore" | "prc" => return Some(8 * 3600),
        "asia/tokyo" => return Some(9 * 3600),
        "asia/kolkata" => return Some(5 * 3600 + 1800),
        _ => {}
    }
    let (sign, rest) = match n.as_bytes().first()? {
        b'+' => (1, &n[1..]),
        b'-' => (-1, &n[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let h: i64 = h.parse().ok()?;
    let m: i64 = m.parse().ok()?;
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}
