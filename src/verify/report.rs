//! What `verify` found, as one value: printed as a table for people or as one JSON document
//! (`--json`). The JSON shape is a contract (README, "starpipe verify").

use std::io::{self, Write};

use serde::Serialize;

use super::compare::ColumnDiff;

/// Samples kept per table.
pub const SAMPLES_PER_TABLE: usize = 10;

/// The whole result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// No table has a difference left (after `--repair`: none left after the repair).
    pub ok: bool,
    pub tables: Vec<TableReport>,
    pub window: WindowReport,
    /// SELECT statements sent to StarRocks (both passes and the check after a repair).
    pub queries: u64,
}

/// One target table.
#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    /// `db.table`.
    pub table: String,
    /// Keys changed in the window.
    pub checked: u64,
    pub equal: u64,
    /// Last change an upsert; no row in the target.
    pub missing: u64,
    /// Last change a delete; a row in the target.
    pub extra: u64,
    /// A row in the target with other values.
    pub differing: u64,
    /// Up to [`SAMPLES_PER_TABLE`] of the differences.
    pub samples: Vec<Sample>,
    /// With `--repair`: what was loaded and what is left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repair: Option<RepairReport>,
}

impl TableReport {
    pub fn differences(&self) -> u64 {
        self.missing + self.extra + self.differing
    }

    /// Differences left: after a repair those the check after it found.
    pub fn remaining(&self) -> u64 {
        match &self.repair {
            Some(r) => r.missing + r.extra + r.differing,
            None => self.differences(),
        }
    }
}

/// One difference. `key` maps the key columns to their values.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Sample {
    Missing {
        key: serde_json::Map<String, serde_json::Value>,
    },
    Extra {
        key: serde_json::Map<String, serde_json::Value>,
    },
    Differing {
        key: serde_json::Map<String, serde_json::Value>,
        columns: Vec<ColumnDiff>,
    },
}

/// `--repair` on one table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairReport {
    /// Expected images loaded (missing and differing keys).
    pub upserts: u64,
    /// Deletes loaded (extra keys).
    pub deletes: u64,
    /// The Stream Load labels used.
    pub labels: Vec<String>,
    /// What the check of the repaired keys found afterwards.
    pub missing: u64,
    pub extra: u64,
    pub differing: u64,
}

/// The topic window read.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowReport {
    /// `--from` as given (`earliest`, `committed` or a timestamp).
    pub from: String,
    /// `--to` as given (`end` or a timestamp).
    pub to: String,
    /// Every partition's window starts at offset 0: every key the topic ever carried is
    /// checked.
    pub from_beginning: bool,
    /// Set when `from_beginning` is not: only keys changed in the window were checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub partitions: Vec<PartitionWindow>,
    pub messages: u64,
    /// Row changes of the checked tables.
    pub rows: u64,
    /// Messages the job would reject too (undecodable, or rows the encoder refuses); their
    /// rows are not checked.
    pub rejected: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_rejection: Option<String>,
    /// Bytes the window's last images took (bounded by `--max-memory-mb`).
    pub memory_bytes: u64,
    /// The second pass, when the first found differences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recheck: Option<RecheckReport>,
}

/// One partition's window: offsets `from..to`.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionWindow {
    pub topic: String,
    pub partition: i32,
    pub from: i64,
    pub to: i64,
}

/// The second pass.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecheckReport {
    pub after_sec: u64,
    /// Keys that differed in the first pass and were checked again.
    pub keys: u64,
    /// Messages read past the first pass's end.
    pub messages: u64,
    /// Of those keys, how many differ no more.
    pub resolved: u64,
}

impl Report {
    /// The exit status: 0 when every table is equal, 1 when differences remain.
    pub fn exit_code(&self) -> u8 {
        if self.ok { 0 } else { 1 }
    }

    /// The report for people.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        self.write_window(out)?;
        let mut tw = tabwriter::TabWriter::new(&mut *out).padding(2);
        writeln!(tw, "TABLE\tCHECKED\tEQUAL\tMISSING\tEXTRA\tDIFFERING")?;
        for t in &self.tables {
            writeln!(
                tw,
                "{}\t{}\t{}\t{}\t{}\t{}",
                t.table, t.checked, t.equal, t.missing, t.extra, t.differing
            )?;
        }
        tw.flush()?;
        drop(tw);
        for t in &self.tables {
            for s in &t.samples {
                writeln!(out, "  {} {}", t.table, sample_text(s))?;
            }
            if let Some(r) = &t.repair {
                writeln!(
                    out,
                    "repair {}: loaded {} upsert(s) and {} delete(s); after repair: {} missing, \
                     {} extra, {} differing",
                    t.table, r.upserts, r.deletes, r.missing, r.extra, r.differing
                )?;
            }
        }
        writeln!(out, "queries: {}", self.queries)?;
        let left: u64 = self.tables.iter().map(TableReport::remaining).sum();
        if self.ok {
            writeln!(out, "verify: every table equal")
        } else {
            let tables = self.tables.iter().filter(|t| t.remaining() > 0).count();
            writeln!(out, "verify: {left} difference(s) in {tables} table(s)")
        }
    }

    fn write_window(&self, out: &mut dyn Write) -> io::Result<()> {
        let w = &self.window;
        let parts: Vec<String> = w
            .partitions
            .iter()
            .map(|p| format!("{}[{}] {}..{}", p.topic, p.partition, p.from, p.to))
            .collect();
        writeln!(
            out,
            "window: {} (from {} to {}): {} message(s), {} row change(s)",
            parts.join(", "),
            w.from,
            w.to,
            w.messages,
            w.rows
        )?;
        if let Some(note) = &w.note {
            writeln!(out, "note: {note}")?;
        }
        if w.rejected > 0 {
            let first = w.first_rejection.as_deref().unwrap_or("");
            writeln!(
                out,
                "note: {} message(s) the job would reject too are not checked; first: {first}",
                w.rejected
            )?;
        }
        if let Some(r) = &w.recheck {
            writeln!(
                out,
                "recheck: {} key(s) checked again after {} s with {} more message(s); {} no \
                 longer differ",
                r.keys, r.after_sec, r.messages, r.resolved
            )?;
        }
        Ok(())
    }
}

fn key_text(key: &serde_json::Map<String, serde_json::Value>) -> String {
    let parts: Vec<String> = key
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

fn sample_text(s: &Sample) -> String {
    let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "NULL".into());
    match s {
        Sample::Missing { key } => format!("missing {}", key_text(key)),
        Sample::Extra { key } => format!("extra {}", key_text(key)),
        Sample::Differing { key, columns } => {
            let cols: Vec<String> = columns
                .iter()
                .map(|c| {
                    format!(
                        "{}: expected {}, actual {}",
                        c.column,
                        shown(&c.expected),
                        shown(&c.actual)
                    )
                })
                .collect();
            format!("differing {}: {}", key_text(key), cols.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let key = |id: &str| {
            let mut m = serde_json::Map::new();
            m.insert("id".into(), id.into());
            m
        };
        Report {
            ok: false,
            tables: vec![TableReport {
                table: "ods.orders".into(),
                checked: 1200,
                equal: 1198,
                missing: 1,
                extra: 0,
                differing: 1,
                samples: vec![
                    Sample::Missing { key: key("5") },
                    Sample::Differing {
                        key: key("7"),
                        columns: vec![ColumnDiff {
                            column: "amount".into(),
                            expected: Some("1.5".into()),
                            actual: None,
                        }],
                    },
                ],
                repair: None,
            }],
            window: WindowReport {
                from: "committed".into(),
                to: "end".into(),
                from_beginning: false,
                note: Some("only keys changed in the window were checked".into()),
                partitions: vec![PartitionWindow {
                    topic: "cdc".into(),
                    partition: 0,
                    from: 10,
                    to: 20,
                }],
                messages: 10,
                rows: 12,
                rejected: 0,
                first_rejection: None,
                memory_bytes: 4096,
                recheck: None,
            },
            queries: 2,
        }
    }

    #[test]
    fn text_report() {
        let mut out = Vec::new();
        report().write_text(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "window: cdc[0] 10..20 (from committed to end): 10 message(s), 12 row change(s)\n\
             note: only keys changed in the window were checked\n\
             TABLE       CHECKED  EQUAL  MISSING  EXTRA  DIFFERING\n\
             ods.orders  1200     1198   1        0      1\n  \
             ods.orders missing {id=5}\n  \
             ods.orders differing {id=7}: amount: expected 1.5, actual NULL\n\
             queries: 2\n\
             verify: 2 difference(s) in 1 table(s)\n"
        );
    }

    #[test]
    fn json_shape() {
        let doc = serde_json::to_value(report()).unwrap();
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["queries"], 2);
        let t = &doc["tables"][0];
        for k in [
            "table",
            "checked",
            "equal",
            "missing",
            "extra",
            "differing",
            "samples",
        ] {
            assert!(t.get(k).is_some(), "{k}");
        }
        assert!(t.get("repair").is_none());
        assert_eq!(
            t["samples"][0],
            serde_json::json!({"kind": "missing", "key": {"id": "5"}})
        );
        assert_eq!(
            t["samples"][1]["columns"][0]["actual"],
            serde_json::Value::Null
        );
        assert_eq!(doc["window"]["fromBeginning"], false);
        assert_eq!(doc["window"]["memoryBytes"], 4096);
        assert!(doc["window"].get("recheck").is_none());
    }
}
