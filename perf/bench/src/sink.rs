//! Sink ceiling: how fast StarRocks (here starrocks-sim) applies Stream Load bodies when the
//! client has nothing else to do. The whole workload is decoded and encoded up front with
//! starpipe's own decoder and encoder into bodies of `batch_bytes`, then sent by starpipe's
//! `StreamLoader` through the FE (the same path `starpipe run` takes), one load in flight per
//! table (the ordering rule starpipe obeys) and all tables in parallel.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde::Serialize;
use starpipe::decode::{DecodeOptions, Decoded, Decoder, MessageKeys};
use starpipe::encode::{BodyEncoder, BodyFormat};
use starpipe::engine::{Feedback, FilteredRows, LoadRequest, LoadSettings, StreamLoader};
use starpipe::schema::{StarRocksType, TableModel, TargetColumn, TargetTable};
use starpipe_perf::{Table, Workload};

use crate::env::Sim;

#[derive(Debug, Clone, Serialize)]
pub struct SinkCeiling {
    pub loads: usize,
    /// Rows in the bodies (a key-changing update is a DELETE and an UPSERT).
    pub rows: u64,
    pub body_bytes: u64,
    pub secs: f64,
    pub rows_per_s: f64,
    pub mb_per_s: f64,
    /// Generating, decoding and encoding the workload up front.
    pub encode_secs: f64,
    /// Of that, the CPU time (this thread's, `CLOCK_THREAD_CPUTIME_ID`) of decoding and encoding
    /// alone: starpipe's decode+encode cost on exactly the data `perf/run` replicates.
    pub decode_encode_cpu_s: f64,
    /// The same bodies sent again right after the applied run (`None` until then).
    pub after_applied: Option<SinkRepeat>,
}

pub struct Body {
    headers: Vec<(&'static str, String)>,
    data: Vec<u8>,
    pub rows: u64,
}

pub fn target_table(db: &str, t: &Table) -> anyhow::Result<TargetTable> {
    let cols = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Ok(TargetColumn::new(
                c.name,
                StarRocksType::parse(c.sr_type)?,
                c.nullable,
                i < t.key_len,
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(TargetTable::new(db, t.name, cols, TableModel::PrimaryKeys)?)
}

/// Per target table, its load bodies in order.
pub type TableBodies = Vec<(String, Vec<Body>)>;

/// Per workload table: its name, its encoder and the bodies taken from it so far.
type Encoders<'w> = Vec<(&'w str, BodyEncoder, Vec<Body>)>;

/// Decodes and encodes the workload into per-table bodies of about `batch_bytes`; also returns
/// the CPU time spent decoding and encoding (not generating).
pub fn encode_bodies(
    w: &Workload,
    target_db: &str,
    batch_bytes: usize,
) -> anyhow::Result<(TableBodies, Duration)> {
    let mut decoder = Decoder::new(DecodeOptions::new(w.format));
    let mut encoders = w
        .tables
        .iter()
        .map(|t| {
            Ok((
                t.name,
                BodyEncoder::new(&target_table(target_db, t)?)?,
                Vec::new(),
            ))
        })
        .collect::<anyhow::Result<Encoders<'_>>>()?;
    let take = |enc: &mut BodyEncoder, out: &mut Vec<Body>| -> anyhow::Result<()> {
        let block = enc.take_block(None);
        if block.is_empty() {
            return Ok(());
        }
        // As a flusher loads a batch: the CSV rows in one body, then the JSON rows (values
        // unquoted CSV cannot frame) in another. Unlike a flusher's, these rows are not
        // collapsed by key, so a key with rows in both bodies may end in another state; the
        // ceiling measures the rate only.
        for format in [BodyFormat::Csv, BodyFormat::Json] {
            if format == BodyFormat::Json && block.json_rows() == 0 {
                continue;
            }
            let mut b = enc.body_builder(format)?;
            b.push_part(&block)?;
            if b.rows() == 0 {
                continue;
            }
            let headers = b.headers();
            let rows = b.rows() as u64;
            out.push(Body {
                headers,
                data: b.finish(),
                rows,
            });
        }
        Ok(())
    };
    let mut buf = Vec::new();
    let mut busy = Duration::ZERO;
    for m in w.generator() {
        let t0 = thread_cpu_time();
        buf.clear();
        buf.extend_from_slice(m.payload.as_bytes());
        decode_encode(&mut decoder, &mut buf, &mut encoders, batch_bytes, &take)
            .with_context(|| format!("message {}", m.seq))?;
        busy += thread_cpu_time().saturating_sub(t0);
    }
    let mut result = Vec::new();
    for (name, mut enc, mut out) in encoders {
        take(&mut enc, &mut out)?;
        result.push((name.to_string(), out));
    }
    Ok((result, busy))
}

/// Decodes one message and encodes its rows, taking a table's block into a body when it is full.
/// Never inlined, so that a profiler can collect this and nothing else
/// (`valgrind --tool=callgrind --toggle-collect='*sink::decode_encode'`).
#[inline(never)]
fn decode_encode(
    decoder: &mut Decoder,
    buf: &mut Vec<u8>,
    encoders: &mut Encoders<'_>,
    batch_bytes: usize,
    take: &impl Fn(&mut BodyEncoder, &mut Vec<Body>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let batch = match decoder.decode(buf, &MessageKeys) {
        Ok(Decoded::Rows(batch)) => batch,
        Ok(_) => return Ok(()),
        Err(e) => bail!("does not decode: {e}"),
    };
    let (_, enc, out) = encoders
        .iter_mut()
        .find(|(name, _, _)| *name == batch.table.table)
        .context("message for an unknown table")?;
    for ch in batch.changes() {
        enc.push_row(ch.op, ch.row.columns())?;
    }
    if enc.block().byte_size() >= batch_bytes {
        take(enc, out)?;
    }
    Ok(())
}

/// CPU time of the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the kernel to write.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The workload's load bodies, decoded and encoded once and sent each time the ceiling is
/// measured.
pub struct SinkBodies {
    /// The database the bodies were encoded for.
    target_db: String,
    per_table: TableBodies,
    /// Generating, decoding and encoding the workload.
    encode_secs: f64,
    /// Of that, this thread's CPU time decoding and encoding.
    decode_encode_cpu_s: f64,
}

/// Decodes and encodes `w` into bodies of about `batch_bytes` for tables in `target_db`.
pub fn prepare(w: &Workload, target_db: &str, batch_bytes: usize) -> anyhow::Result<SinkBodies> {
    let t0 = Instant::now();
    let (per_table, decode_encode) = encode_bodies(w, target_db, batch_bytes)?;
    Ok(SinkBodies {
        target_db: target_db.to_string(),
        per_table,
        encode_secs: t0.elapsed().as_secs_f64(),
        decode_encode_cpu_s: decode_encode.as_secs_f64(),
    })
}

/// Sends `bodies` and measures the rate. `source_rows` (the workload's rows, not the encoded
/// DELETE+UPSERT pairs of key changes) makes `rows_per_s` comparable with the other
/// measurements.
pub fn measure(bodies: &SinkBodies, sim: &Sim, source_rows: u64) -> anyhow::Result<SinkCeiling> {
    let all = || bodies.per_table.iter().flat_map(|(_, b)| b);
    let SinkRepeat {
        secs,
        rows_per_s,
        mb_per_s,
    } = repeat(bodies, sim, source_rows)?;
    Ok(SinkCeiling {
        loads: all().count(),
        rows: all().map(|b| b.rows).sum(),
        body_bytes: bodies.body_bytes(),
        secs,
        rows_per_s,
        mb_per_s,
        encode_secs: bodies.encode_secs,
        decode_encode_cpu_s: bodies.decode_encode_cpu_s,
        after_applied: None,
    })
}

impl SinkBodies {
    fn body_bytes(&self) -> u64 {
        let all = self.per_table.iter().flat_map(|(_, b)| b);
        all.map(|b| b.data.len() as u64).sum()
    }
}

/// Sends every body through the FE, one load in flight per table and all tables in parallel;
/// returns the seconds it took.
fn send(bodies: &SinkBodies, sim: &Sim) -> anyhow::Result<f64> {
    let target_db = bodies.target_db.as_str();
    let settings = LoadSettings {
        http_host: sim.fe_http.clone(),
        user: "root".into(),
        password: String::new(),
        connect_timeout: std::time::Duration::from_secs(30),
        load_timeout: std::time::Duration::from_secs(600),
        label_wait: std::time::Duration::from_secs(300),
        frontends: Vec::new(),
        tls: Default::default(),
    };
    // Labels unique to this send: the ceiling is measured more than once per emulator.
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let run_id = format!("{}-{nanos}", std::process::id());
    let started = Instant::now();
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = bodies
            .per_table
            .iter()
            .map(|(table, bodies)| {
                let (settings, run_id) = (settings.clone(), &run_id);
                s.spawn(move || -> anyhow::Result<()> {
                    let loader = StreamLoader::new(settings);
                    for (i, body) in bodies.iter().enumerate() {
                        let label = format!("bench-sink-{table}-{run_id}-{i}");
                        let req = LoadRequest {
                            db: target_db,
                            table,
                            label: &label,
                            headers: &body.headers,
                            body: &body.data,
                            filtered: FilteredRows::Reject,
                        };
                        loader
                            .load(&req, &|| false, &mut Feedback::default())
                            .with_context(|| format!("sink ceiling load {label}"))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().expect("sink thread")?;
        }
        Ok(())
    })?;
    Ok(started.elapsed().as_secs_f64())
}

/// The sink ceiling measured again, right after the applied run, so that the applied run is
/// held against measurements before and after it: this VM's speed varies between runs, and
/// the second measurement shows how much it moved around the applied run.
#[derive(Debug, Clone, Serialize)]
pub struct SinkRepeat {
    pub secs: f64,
    pub rows_per_s: f64,
    pub mb_per_s: f64,
}

/// Sends `bodies` (fresh labels each time, so one emulator takes them more than once) and
/// measures the rate: the second measurement, and the first's rate for [`measure`].
pub fn repeat(bodies: &SinkBodies, sim: &Sim, source_rows: u64) -> anyhow::Result<SinkRepeat> {
    let secs = send(bodies, sim)?;
    Ok(SinkRepeat {
        secs,
        rows_per_s: source_rows as f64 / secs,
        mb_per_s: bodies.body_bytes() as f64 / 1e6 / secs,
    })
}

impl SinkCeiling {
    /// The mean of the measurements before and after the applied run, which bracket it in
    /// time; `None` without the second one.
    pub fn bracketing_rows_per_s(&self) -> Option<f64> {
        let again = self.after_applied.as_ref()?;
        Some((self.rows_per_s + again.rows_per_s) / 2.0)
    }
}
