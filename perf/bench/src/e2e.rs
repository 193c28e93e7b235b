//! `starpipe run` end to end, real broker → starrocks-sim: a full-speed run with
//! `--stop-at-end` (throughput, CPU, peak RSS), and a paced run for latency from produce time to
//! visible in StarRocks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mysql::prelude::Queryable;
use parking_lot::Mutex;
use serde::Serialize;
use starpipe_perf::{ExpectedState, Message, Op, Workload};

use crate::env::{Sim, Target};
use crate::measure::{self, Measured};

/// The job settings a run uses (BladePipe names in the TOML).
#[derive(Debug, Clone, Serialize)]
pub struct JobSettings {
    pub consume_parallel: u32,
    pub total_data_in_mem_mb: u64,
    pub flush_batch_mb: u64,
    pub async_flush_interval_sec: u64,
    pub session_timeout_ms: u64,
}

pub struct JobTarget<'a> {
    pub brokers: &'a str,
    pub topic: &'a str,
    pub schema_format: &'a str,
    pub group: String,
    pub source_db: &'a str,
    pub target_db: &'a str,
}

pub fn write_job(path: &Path, sim: &Sim, t: &JobTarget<'_>, s: &JobSettings) -> anyhow::Result<()> {
    let toml = format!(
        r#"[source]
brokers = "{brokers}"
topics = ["{topic}"]
schemaFormat = "{format}"
consumerGroupId = "{group}"
consumeParallel = {parallel}
sessionTimeoutMs = {session}

[target]
host = "{query}"
httpHost = "{fe}"
user = "root"
totalDataInMemMb = {budget}
flushBatchMb = {batch}
asyncFlushIntervalSec = {interval}

[[tables]]
source = "{src}.*"
target = "{dst}.*"
"#,
        brokers = t.brokers,
        topic = t.topic,
        format = t.schema_format,
        group = t.group,
        parallel = s.consume_parallel,
        session = s.session_timeout_ms,
        query = sim.query,
        fe = sim.fe_http,
        budget = s.total_data_in_mem_mb,
        batch = s.flush_batch_mb,
        interval = s.async_flush_interval_sec,
        src = t.source_db,
        dst = t.target_db,
    );
    std::fs::write(path, toml)?;
    Ok(())
}

fn starpipe_command(
    bin: &Path,
    job: &Path,
    stop_at_end: bool,
    log: &Path,
) -> anyhow::Result<Command> {
    let mut cmd = Command::new(bin);
    cmd.arg("run").arg("--config").arg(job);
    if stop_at_end {
        cmd.arg("--stop-at-end");
    }
    let log = std::fs::File::create(log)?;
    cmd.stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log));
    Ok(cmd)
}

#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub correct: bool,
    pub summary: String,
    /// Differing rows by cause (`starpipe_perf::verify::Cause`); empty when correct or when
    /// the comparison could not run (then `summary` says why).
    pub defects: std::collections::BTreeMap<String, usize>,
}

pub fn verify(expected: &ExpectedState, target_db: &str, sim: &Sim) -> Verified {
    let mut e = expected.clone();
    e.database = target_db.to_string();
    match starpipe_perf::verify(&e, &sim.query, "root", "") {
        Ok(r) => Verified {
            correct: r.ok(),
            summary: r.summary(),
            defects: r
                .causes()
                .into_iter()
                .map(|(c, n)| (c.to_string(), n))
                .collect(),
        },
        Err(err) => Verified {
            correct: false,
            summary: format!("verify failed to run: {err:#}"),
            defects: Default::default(),
        },
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct E2eRun {
    pub name: String,
    pub settings: JobSettings,
    pub target: Target,
    pub source_rows: u64,
    pub source_bytes: u64,
    /// Over the whole run, start-up and the group join included.
    pub rows_per_s: f64,
    /// Over the steady state ([`Measured::steady`]).
    pub steady_rows_per_s: Option<f64>,
    pub mb_per_s: f64,
    /// Over the whole run.
    pub cpu_s_per_m_rows: f64,
    /// Within the steady state.
    pub steady_cpu_s_per_m_rows: Option<f64>,
    #[serde(flatten)]
    pub measured: Measured,
    /// The target tables against the model; `None` with [`Target::Discard`] (nothing applied).
    pub verified: Option<Verified>,
    pub log: PathBuf,
}

impl E2eRun {
    /// False only when the tables were compared and differ.
    pub fn correct(&self) -> bool {
        self.verified.as_ref().is_none_or(|v| v.correct)
    }
}

pub struct Inputs<'a> {
    pub starpipe: &'a Path,
    pub sim: &'a Sim,
    pub work: &'a Path,
    pub brokers: &'a str,
    pub topic: &'a str,
    pub source_db: &'a str,
    pub tables: &'a [starpipe_perf::Table],
    pub source_rows: u64,
    pub source_bytes: u64,
    pub expected: &'a ExpectedState,
}

/// One `starpipe run --stop-at-end` over the whole topic into a fresh database, the emulator in
/// `target` mode.
pub fn run_to_end(
    name: &str,
    inp: &Inputs<'_>,
    settings: &JobSettings,
    target: Target,
) -> anyhow::Result<E2eRun> {
    let target_db = format!("bench_{name}");
    inp.sim.recreate_database(&target_db, inp.tables)?;
    let job = inp.work.join(format!("{name}.toml"));
    let log = inp.work.join(format!("{name}.log"));
    write_job(
        &job,
        inp.sim,
        &JobTarget {
            brokers: inp.brokers,
            topic: inp.topic,
            schema_format: "AlibabaCanal",
            group: format!("starpipe-bench-{name}-{}", std::process::id()),
            source_db: inp.source_db,
            target_db: &target_db,
        },
        settings,
    )?;
    let cmd = starpipe_command(inp.starpipe, &job, true, &log)?;
    let mode = inp.sim.switched_to(target)?;
    let measured = measure::run(cmd, inp.sim, Duration::from_secs(3600), |_| false)?;
    drop(mode);
    anyhow::ensure!(
        measured.exit_code == Some(0),
        "starpipe run ({name}) exited with {:?}; see {}",
        measured.exit_code,
        log.display()
    );
    let verified = (target == Target::Apply).then(|| verify(inp.expected, &target_db, inp.sim));
    // Free the emulator's memory for the next run.
    inp.sim.recreate_database(&target_db, &[])?;
    Ok(E2eRun {
        name: name.to_string(),
        settings: settings.clone(),
        target,
        source_rows: inp.source_rows,
        source_bytes: inp.source_bytes,
        rows_per_s: inp.source_rows as f64 / measured.wall_s,
        steady_rows_per_s: measured.steady_rows_per_s(inp.source_rows),
        steady_cpu_s_per_m_rows: measured.steady_cpu_s_per_m_rows(inp.source_rows),
        mb_per_s: inp.source_bytes as f64 / 1e6 / measured.wall_s,
        cpu_s_per_m_rows: measured.cpu_s() / (inp.source_rows as f64 / 1e6),
        measured,
        verified,
        log,
    })
}

// ---------------------------------------------------------------------------------------------
// Latency
// ---------------------------------------------------------------------------------------------

pub const HEARTBEAT_TABLE: &str = "perf_heartbeat";

fn heartbeat_ddl(db: &str) -> String {
    format!(
        "CREATE TABLE {db}.{HEARTBEAT_TABLE} (p INT NOT NULL, seq BIGINT NOT NULL, \
         produced_ms BIGINT NOT NULL) PRIMARY KEY (p) DISTRIBUTED BY HASH (p) BUCKETS 1"
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A canal-json INSERT of the heartbeat row of partition `p` (an upsert of one key per
/// partition: its `seq` tells how far the partition's rows are visible).
fn heartbeat(db: &str, p: i32, seq: u64, produced_ms: i64) -> Message {
    let payload = format!(
        r#"{{"data":[{{"p":"{p}","seq":"{seq}","produced_ms":"{produced_ms}"}}],"database":"{db}","es":{produced_ms},"id":0,"isDdl":false,"mysqlType":{{"p":"int","seq":"bigint","produced_ms":"bigint"}},"old":null,"pkNames":["p"],"sql":"","sqlType":{{"p":4,"seq":-5,"produced_ms":-5}},"table":"{HEARTBEAT_TABLE}","ts":{produced_ms},"type":"INSERT"}}"#
    );
    Message {
        seq: u64::MAX,
        table: HEARTBEAT_TABLE,
        partition: p,
        op: Op::Insert,
        rows: 1,
        key_changes: 0,
        payload,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyRun {
    pub rate_msgs_per_s: f64,
    pub rate_rows_per_s: f64,
    pub messages: u64,
    pub heartbeats: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub settings: JobSettings,
    #[serde(flatten)]
    pub measured: Measured,
    pub verified: Verified,
}

/// Produced heartbeats, `(p, seq) → produced_ms`, and the first time each was seen.
#[derive(Default)]
struct Beats {
    produced: BTreeMap<(i32, u64), i64>,
    seen: BTreeMap<(i32, u64), i64>,
}

pub struct LatencyInputs<'a> {
    pub starpipe: &'a Path,
    pub sim: &'a Sim,
    pub work: &'a Path,
    pub brokers: &'a str,
    pub workload: Workload,
    pub rate_msgs_per_s: f64,
    pub heartbeat_every: Duration,
}

/// starpipe runs while a producer sends the workload at a fixed rate with a heartbeat per
/// partition every `heartbeat_every`; a poller reads the heartbeat table over the MySQL protocol
/// every 5 ms. Latency of a heartbeat = when it was first visible − when it was produced.
pub fn latency(inp: LatencyInputs<'_>, settings: &JobSettings) -> anyhow::Result<LatencyRun> {
    let w = inp.workload;
    let partitions = w.partitions as i32;
    let source_db = w.database.clone();
    let target_db = "bench_latency".to_string();
    let topic = format!("bench-latency-{}", std::process::id());
    starpipe_perf::create_topic(inp.brokers, &topic, partitions)?;
    inp.sim.recreate_database(&target_db, &w.tables)?;
    starpipe_perf::verify::execute_statements(
        &inp.sim.query,
        "root",
        "",
        &heartbeat_ddl(&target_db),
    )?;
    let job = inp.work.join("latency.toml");
    let log = inp.work.join("latency.log");
    write_job(
        &job,
        inp.sim,
        &JobTarget {
            brokers: inp.brokers,
            topic: &topic,
            schema_format: "AlibabaCanal",
            group: format!("starpipe-bench-latency-{}", std::process::id()),
            source_db: &source_db,
            target_db: &target_db,
        },
        settings,
    )?;

    let beats = Arc::new(Mutex::new(Beats::default()));
    let done = Arc::new(AtomicBool::new(false));
    let produced_all = Arc::new(AtomicBool::new(false));
    let mut generator = w.generator();
    let rows_per_msg = (w.min_rows + w.max_rows) as f64 / 2.0;

    // Poller: first-seen time of each heartbeat.
    let poller = {
        let (beats, done, query, db) = (
            beats.clone(),
            done.clone(),
            inp.sim.query.clone(),
            target_db.clone(),
        );
        std::thread::spawn(move || -> anyhow::Result<()> {
            let mut conn = starpipe_perf::verify::connect(&query, "root", "")
                .inspect_err(|e| eprintln!("   heartbeat poller: {e:#}"))?;
            let sql = format!("SELECT p, seq FROM {db}.{HEARTBEAT_TABLE}");
            let mut last_error = String::new();
            while !done.load(Ordering::Relaxed) {
                let rows: Vec<(i32, u64)> = match conn.query(&sql) {
                    Ok(rows) => rows,
                    Err(e) => {
                        // Report each new error once and keep polling: a missed poll only
                        // delays a first-seen time, a dead poller would hang the run.
                        let e = e.to_string();
                        if e != last_error {
                            eprintln!("   heartbeat poller: {e}");
                            last_error = e;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                };
                let now = now_ms();
                let mut b = beats.lock();
                for (p, seq) in rows {
                    // Everything of this partition up to `seq` is visible now.
                    let newly: Vec<(i32, u64)> = b
                        .produced
                        .range((p, 0)..=(p, seq))
                        .map(|(k, _)| *k)
                        .filter(|k| !b.seen.contains_key(k))
                        .collect();
                    for k in newly {
                        b.seen.insert(k, now);
                    }
                }
                drop(b);
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        })
    };

    let producer = {
        let (beats, produced_all, brokers, topic, db) = (
            beats.clone(),
            produced_all.clone(),
            inp.brokers.to_string(),
            topic.clone(),
            source_db.clone(),
        );
        let rate = inp.rate_msgs_per_s;
        let every = inp.heartbeat_every;
        std::thread::spawn(move || -> anyhow::Result<ExpectedState> {
            let finished = produced_all.clone();
            let r = (move || -> anyhow::Result<ExpectedState> {
                // Warm-up: one heartbeat per partition, then wait until starpipe has joined the group
                // and loaded them, so the paced run measures steady state, not the group join.
                let mut seq = 0u64;
                let t = now_ms();
                beats
                    .lock()
                    .produced
                    .extend((0..partitions).map(|p| ((p, seq), t)));
                let warm: Vec<Message> =
                    (0..partitions).map(|p| heartbeat(&db, p, seq, t)).collect();
                starpipe_perf::produce(&brokers, &topic, partitions, warm, None)?;
                let wait_until = Instant::now() + Duration::from_secs(120);
                while beats.lock().seen.len() < partitions as usize {
                    anyhow::ensure!(
                        Instant::now() < wait_until,
                        "starpipe did not load the warm-up heartbeats within 120 s"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
                {
                    let mut b = beats.lock();
                    b.seen.clear();
                    b.produced.clear();
                }
                seq += 1;
                // Paced workload with heartbeats interleaved by message count.
                let per_beat = ((rate * every.as_secs_f64()) as u64).max(1);
                let beats2 = beats.clone();
                let db2 = db.clone();
                let mut pending: Vec<Message> = Vec::new();
                let mut stream = generator.by_ref().peekable();
                let iter = std::iter::from_fn(move || {
                    if let Some(m) = pending.pop() {
                        return Some(m);
                    }
                    let m = stream.next()?;
                    if m.seq % per_beat == per_beat - 1 || stream.peek().is_none() {
                        let t = now_ms();
                        let mut b = beats2.lock();
                        for p in 0..partitions {
                            b.produced.insert((p, seq), t);
                            pending.push(heartbeat(&db2, p, seq, t));
                        }
                        seq += 1;
                    }
                    Some(m)
                });
                starpipe_perf::produce(&brokers, &topic, partitions, iter, Some(rate))?;
                Ok(generator.expected_state())
            })();
            // Also on failure, so the run below stops instead of waiting for its timeout.
            finished.store(true, Ordering::Relaxed);
            r
        })
    };

    let cmd = starpipe_command(inp.starpipe, &job, false, &log)?;
    let beats_w = beats.clone();
    let pa = produced_all.clone();
    let mut produced_at: Option<Duration> = None;
    let measured = measure::run(cmd, inp.sim, Duration::from_secs(1800), |el| {
        if !pa.load(Ordering::Relaxed) {
            return false;
        }
        let produced_at = *produced_at.get_or_insert(el);
        let b = beats_w.lock();
        // Stop once every heartbeat is visible; 120 s after the producer finished is a failure
        // that shows as missing heartbeats and rows.
        b.produced.keys().all(|k| b.seen.contains_key(k))
            || el - produced_at > Duration::from_secs(120)
    })?;
    done.store(true, Ordering::Relaxed);
    let expected = producer.join().expect("producer thread")?;
    poller.join().expect("poller thread")?;
    let verified = verify(&expected, &target_db, inp.sim);
    inp.sim.recreate_database(&target_db, &[])?;

    let b = beats.lock();
    let mut lat: Vec<f64> = b
        .produced
        .iter()
        .filter_map(|(k, t)| b.seen.get(k).map(|s| (s - t) as f64))
        .collect();
    lat.sort_by(f64::total_cmp);
    let pct = |q: f64| -> f64 {
        if lat.is_empty() {
            f64::NAN
        } else {
            lat[((lat.len() - 1) as f64 * q).round() as usize]
        }
    };
    Ok(LatencyRun {
        rate_msgs_per_s: inp.rate_msgs_per_s,
        rate_rows_per_s: inp.rate_msgs_per_s * rows_per_msg,
        messages: w.messages,
        heartbeats: lat.len(),
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        max_ms: lat.last().copied().unwrap_or(f64::NAN),
        settings: settings.clone(),
        measured,
        verified,
    })
}

#[cfg(test)]
mod tests {
    use starpipe::decode::{DecodeOptions, Decoded, Decoder, Format, MessageKeys};

    /// The heartbeat is a canal-json INSERT starpipe decodes like any other row.
    #[test]
    fn heartbeat_is_valid_canal_json() {
        let m = super::heartbeat("bench", 1, 42, 1_733_000_000_123);
        let mut buf = m.payload.into_bytes();
        let mut dec = Decoder::new(DecodeOptions::new(Format::Canal));
        let Ok(Decoded::Rows(batch)) = dec.decode(&mut buf, &MessageKeys) else {
            panic!("heartbeat does not decode");
        };
        assert_eq!(batch.table.db, "bench");
        assert_eq!(batch.table.table, super::HEARTBEAT_TABLE);
        let changes: Vec<_> = batch.changes().collect();
        assert_eq!(changes.len(), 1);
        let cols: Vec<String> = changes[0]
            .row
            .columns()
            .map(|c| format!("{}={:?}", c.name, c.value))
            .collect();
        assert_eq!(cols.len(), 3, "{cols:?}");
        assert!(cols[1].contains("42"), "{cols:?}");
    }
}
