//! The peer a user would pick instead: Flink SQL (Kafka source, `canal-json` format → the
//! StarRocks Flink connector), run in-process by `perf/flink/run-peer` from Maven artifacts,
//! on the same topic and the same emulator. See `perf/flink/README.md`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::Serialize;

use crate::e2e::{Inputs, Verified, verify};
use crate::env::Target;
use crate::measure::{self, Measured};

#[derive(Debug, Clone, Serialize)]
pub struct PeerRun {
    /// `ok`, `failed` or `unavailable` (an artifact could not be had: `reason` says which).
    pub status: String,
    pub reason: Option<String>,
    pub target: Target,
    /// Over the whole run (JVM start and job submission included).
    pub rows_per_s: Option<f64>,
    /// Over the steady state ([`Measured::steady`]): without the JVM's start-up, the SQL
    /// planning and the job submission.
    pub steady_rows_per_s: Option<f64>,
    /// Over the whole run.
    pub cpu_s_per_m_rows: Option<f64>,
    /// Within the steady state (the JVM is warm).
    pub steady_cpu_s_per_m_rows: Option<f64>,
    /// `TableSourceScan`s in the job's optimized execution plan (EXPLAIN): 1 when every table
    /// is read from one scan of the topic.
    pub source_scans: Option<usize>,
    /// Peak RSS of the peer's JVM, as `run-peer` measured it.
    pub peak_rss_mb: Option<f64>,
    pub measured: Option<Measured>,
    /// What `run-peer` itself printed (its own wall/CPU/RSS figures and versions).
    pub report: serde_json::Value,
    pub verified: Option<Verified>,
}

impl PeerRun {
    fn not_run(status: &str, reason: String, target: Target, report: serde_json::Value) -> PeerRun {
        PeerRun {
            status: status.into(),
            reason: Some(reason),
            target,
            rows_per_s: None,
            steady_rows_per_s: None,
            cpu_s_per_m_rows: None,
            steady_cpu_s_per_m_rows: None,
            source_scans: None,
            peak_rss_mb: None,
            measured: None,
            report,
            verified: None,
        }
    }
}

/// How the peer runs: its parallelism, and its flush interval and buffer (starpipe's).
#[derive(Debug, Clone, Copy)]
pub struct PeerSettings {
    pub parallelism: u32,
    pub flush_interval_ms: u64,
    pub buffer_bytes: u64,
}

pub fn run(
    root: &Path,
    inp: &Inputs<'_>,
    settings: PeerSettings,
    target: Target,
) -> anyhow::Result<PeerRun> {
    let name = format!("flink-peer-{}", target.label());
    let target_db = "bench_flink";
    inp.sim.recreate_database(target_db, inp.tables)?;
    let sql = starpipe_perf::flink::flink_sql(&starpipe_perf::flink::PeerJob {
        tables: inp.tables,
        source_db: inp.source_db,
        target_db,
        topic: inp.topic,
        brokers: inp.brokers,
        group: &format!("{name}-{}", std::process::id()),
        fe_http: &inp.sim.fe_http,
        fe_mysql: &inp.sim.query,
        user: "root",
        password: "",
        flush_interval_ms: settings.flush_interval_ms,
        buffer_bytes: settings.buffer_bytes,
    });
    // Resolve and build first, so the measured run is the JVM only (not Maven).
    let prepare = Command::new(root.join("perf/flink/run-peer"))
        .arg("--prepare")
        .stderr(Stdio::inherit())
        .output()?;
    if !prepare.status.success() {
        let report = last_json_line(&String::from_utf8_lossy(&prepare.stdout));
        let status = report["status"].as_str().unwrap_or("failed").to_string();
        let reason = report["reason"].as_str().map_or_else(
            || format!("run-peer --prepare failed ({})", prepare.status),
            str::to_string,
        );
        return Ok(PeerRun::not_run(&status, reason, target, report));
    }
    let sql_file = inp.work.join(format!("{name}.sql"));
    std::fs::write(&sql_file, sql)?;
    let out_file = inp.work.join(format!("{name}.out"));
    let log_file = inp.work.join(format!("{name}.log"));
    let plan_file = inp.work.join(format!("{name}.plan.txt"));
    let mut cmd = Command::new(root.join("perf/flink/run-peer"));
    cmd.arg(&sql_file)
        .arg("--explain")
        .arg(&plan_file)
        .env("FLINK_PARALLELISM", settings.parallelism.to_string())
        .stdout(Stdio::from(std::fs::File::create(&out_file)?))
        .stderr(Stdio::from(std::fs::File::create(&log_file)?));
    let mode = inp.sim.switched_to(target)?;
    let measured = measure::run(cmd, inp.sim, Duration::from_secs(3600), |_| false)?;
    drop(mode);
    let source_scans = std::fs::read_to_string(&plan_file)
        .ok()
        .filter(|plan| !plan.trim().is_empty())
        .map(|plan| source_scans(&plan));
    let out = std::fs::read_to_string(&out_file).unwrap_or_default();
    let report = last_json_line(&out);
    let status = report["status"].as_str().unwrap_or("failed").to_string();
    if status != "ok" || measured.exit_code != Some(0) {
        let reason = report["reason"].as_str().map_or_else(
            || {
                format!(
                    "run-peer exited with {:?} and no report; see {}",
                    measured.exit_code,
                    log_file.display()
                )
            },
            str::to_string,
        );
        let status = if status == "ok" { "failed" } else { &status };
        inp.sim.recreate_database(target_db, &[])?;
        return Ok(PeerRun::not_run(status, reason, target, report));
    }
    let verified = (target == Target::Apply).then(|| verify(inp.expected, target_db, inp.sim));
    inp.sim.recreate_database(target_db, &[])?;
    // run-peer measures the JVM itself (getrusage of its own child). This process's view would
    // be of the script, not of the JVM it starts.
    let rss = report["peak_rss_mb"]
        .as_f64()
        .unwrap_or(measured.peak_rss_mb);
    Ok(PeerRun {
        status,
        reason: None,
        target,
        rows_per_s: Some(inp.source_rows as f64 / measured.wall_s),
        steady_rows_per_s: measured.steady_rows_per_s(inp.source_rows),
        cpu_s_per_m_rows: Some(measured.cpu_s() / (inp.source_rows as f64 / 1e6)),
        steady_cpu_s_per_m_rows: measured.steady_cpu_s_per_m_rows(inp.source_rows),
        source_scans,
        peak_rss_mb: Some(rss),
        measured: Some(measured),
        report,
        verified,
    })
}

/// `TableSourceScan` nodes in the "Optimized Execution Plan" part of a Flink EXPLAIN (where a
/// reused scan appears once and its readers say `Reused`), or in the whole text if it has no
/// such part.
fn source_scans(plan: &str) -> usize {
    let exec = plan
        .split_once("== Optimized Execution Plan ==")
        .map_or(plan, |(_, rest)| rest);
    exec.matches("TableSourceScan(").count()
}

/// `run-peer`'s report: the last line of its output that parses as JSON (Null if none).
fn last_json_line(out: &str) -> serde_json::Value {
    out.lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
        .unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    #[test]
    fn scans_are_counted_in_the_execution_plan() {
        let plan = "== Abstract Syntax Tree ==\nLogicalSink\n+- TableSourceScan(table=[[cdc]])\n\
                    +- TableSourceScan(table=[[cdc]])\n\
                    == Optimized Execution Plan ==\nTableSourceScan(table=[[cdc]])(reuse_id=[1])\n\
                    Sink(table=[a])\n+- Calc(where=[x])\n   +- Reused(reference_id=[1])\n";
        assert_eq!(super::source_scans(plan), 1);
    }
}
