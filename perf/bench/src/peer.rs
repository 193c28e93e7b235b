//! The peer a user would pick instead: Flink SQL (Kafka source, `canal-json` format → the
//! StarRocks Flink connector), run in-process by `perf/flink/run-peer` from Maven artifacts,
//! on the same topic and the same emulator. See `perf/flink/README.md`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::Serialize;

use crate::e2e::{Inputs, Verified, verify};
use crate::measure::{self, Measured};

#[derive(Debug, Clone, Serialize)]
pub struct PeerRun {
    /// `ok`, `failed` or `unavailable` (an artifact could not be had: `reason` says which).
    pub status: String,
    pub reason: Option<String>,
    pub rows_per_s: Option<f64>,
    pub cpu_s_per_m_rows: Option<f64>,
    /// Peak RSS of the peer's JVM, as `run-peer` measured it.
    pub peak_rss_mb: Option<f64>,
    pub measured: Option<Measured>,
    /// What `run-peer` itself printed (its own wall/CPU/RSS figures and versions).
    pub report: serde_json::Value,
    pub verified: Option<Verified>,
}

impl PeerRun {
    fn not_run(status: &str, reason: String, report: serde_json::Value) -> PeerRun {
        PeerRun {
            status: status.into(),
            reason: Some(reason),
            rows_per_s: None,
            cpu_s_per_m_rows: None,
            peak_rss_mb: None,
            measured: None,
            report,
            verified: None,
        }
    }
}

pub fn run(root: &Path, inp: &Inputs<'_>, parallelism: u32) -> anyhow::Result<PeerRun> {
    let target_db = "bench_flink";
    inp.sim.recreate_database(target_db, inp.tables)?;
    let sql = starpipe_perf::flink::flink_sql(
        inp.tables,
        inp.source_db,
        target_db,
        inp.topic,
        inp.brokers,
        &format!("flink-peer-{}", std::process::id()),
        &inp.sim.fe_http,
        &inp.sim.query,
        "root",
        "",
    );
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
        return Ok(PeerRun::not_run(&status, reason, report));
    }
    let sql_file = inp.work.join("flink-peer.sql");
    std::fs::write(&sql_file, sql)?;
    let out_file = inp.work.join("flink-peer.out");
    let log_file = inp.work.join("flink-peer.log");
    let mut cmd = Command::new(root.join("perf/flink/run-peer"));
    cmd.arg(&sql_file)
        .env("FLINK_PARALLELISM", parallelism.to_string())
        .stdout(Stdio::from(std::fs::File::create(&out_file)?))
        .stderr(Stdio::from(std::fs::File::create(&log_file)?));
    let measured = measure::run(cmd, inp.sim, Duration::from_secs(3600), |_| false)?;
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
        return Ok(PeerRun::not_run(status, reason, report));
    }
    let verified = verify(inp.expected, target_db, inp.sim);
    inp.sim.recreate_database(target_db, &[])?;
    // run-peer measures the JVM itself (getrusage of its own child). This process's view would
    // be of the script, not of the JVM it starts.
    let rss = report["peak_rss_mb"]
        .as_f64()
        .unwrap_or(measured.peak_rss_mb);
    Ok(PeerRun {
        status,
        reason: None,
        rows_per_s: Some(inp.source_rows as f64 / measured.wall_s),
        cpu_s_per_m_rows: Some(measured.cpu_s() / (inp.source_rows as f64 / 1e6)),
        peak_rss_mb: Some(rss),
        measured: Some(measured),
        report,
        verified: Some(verified),
    })
}

/// `run-peer`'s report: the last line of its output that parses as JSON (Null if none).
fn last_json_line(out: &str) -> serde_json::Value {
    out.lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
        .unwrap_or(serde_json::Value::Null)
}
