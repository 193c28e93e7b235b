//! `starpipe-workload`: DDL, generation, production to Kafka and verification of a
//! deterministic CDC workload. See the crate docs of `starpipe_perf`.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use starpipe_perf::{
    ExpectedState, Format, KeyDist, Partitioning, Workload, create_topic, ddl, produce, verify,
};

#[derive(Parser)]
#[command(
    name = "starpipe-workload",
    version,
    about = "Deterministic CDC workload generator for starpipe"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the StarRocks CREATE DATABASE / CREATE TABLE statements.
    Ddl {
        #[arg(long, default_value = "starpipe_e2e")]
        db: String,
        /// Tables (comma separated; default all: sbtest,orders,order_items,wide).
        #[arg(long, value_delimiter = ',')]
        tables: Vec<String>,
        /// Execute the statements on this StarRocks FE (HOST:PORT) instead of printing them.
        #[arg(long)]
        apply: Option<String>,
        #[arg(long, default_value = "root")]
        user: String,
        #[arg(long, default_value = "")]
        password: String,
    },
    /// Generate messages to a JSONL file (or stdout) and the expected final state.
    Generate {
        #[command(flatten)]
        w: WorkloadArgs,
        /// Messages, one JSON object per line (default stdout). The partition of line i is on
        /// line i of `<out>.partitions`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write the expected final state (JSON) here.
        #[arg(long)]
        expected: Option<PathBuf>,
    },
    /// Generate and produce to Kafka (streaming).
    Produce {
        #[command(flatten)]
        w: WorkloadArgs,
        #[arg(long)]
        brokers: String,
        #[arg(long)]
        topic: String,
        /// Messages per second (default unlimited).
        #[arg(long)]
        rate: Option<f64>,
        /// Create the topic first (replication 1; an existing topic is fine).
        #[arg(long)]
        create_topic: bool,
        #[arg(long)]
        expected: Option<PathBuf>,
    },
    /// Compare StarRocks tables with an expected state; exit 1 on mismatch.
    Verify {
        #[arg(long)]
        expected: PathBuf,
        /// StarRocks FE MySQL address HOST:PORT.
        #[arg(long)]
        mysql: String,
        #[arg(long, default_value = "root")]
        user: String,
        #[arg(long, default_value = "")]
        password: String,
        /// Override the database named in the expected file.
        #[arg(long)]
        db: Option<String>,
    },
    /// Print the Flink SQL of the benchmark's Flink peer (perf/flink/run-peer runs it).
    FlinkSql {
        #[arg(long, default_value = "starpipe_e2e")]
        db: String,
        /// Tables (comma separated; default all: sbtest,orders,order_items,wide).
        #[arg(long, value_delimiter = ',')]
        tables: Vec<String>,
        #[arg(long)]
        topic: String,
        #[arg(long)]
        brokers: String,
        /// Kafka consumer group of the one source.
        #[arg(long, default_value = "flink-peer")]
        group: String,
        /// StarRocks FE HTTP address HOST:PORT (`load-url`).
        #[arg(long)]
        fe_http: String,
        /// StarRocks FE MySQL address HOST:PORT (`jdbc-url`).
        #[arg(long)]
        fe_mysql: String,
        #[arg(long, default_value = "root")]
        user: String,
        #[arg(long, default_value = "")]
        password: String,
        /// `sink.buffer-flush.interval-ms` (starpipe's `asyncFlushIntervalSec` in ms).
        #[arg(long, default_value_t = 1000)]
        flush_interval_ms: u64,
        /// `sink.buffer-flush.max-bytes` (starpipe's `totalDataInMemMb` in bytes; at least 64 MiB).
        #[arg(long, default_value_t = 64 << 20)]
        buffer_bytes: u64,
    },
}

#[derive(Args)]
struct WorkloadArgs {
    #[arg(long, value_enum, default_value = "canal")]
    format: Format,
    #[arg(long, default_value_t = 10_000)]
    messages: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Tables (comma separated; default all: sbtest,orders,order_items,wide).
    #[arg(long, value_delimiter = ',')]
    tables: Vec<String>,
    #[arg(long, default_value = "starpipe_e2e")]
    db: String,
    /// Partitions of the topic (messages are assigned to partitions by the generator).
    #[arg(long, default_value_t = 1)]
    partitions: u32,
    #[arg(long, value_enum, default_value = "table")]
    partition_by: Partitioning,
    #[arg(long, default_value_t = 1)]
    min_rows: usize,
    #[arg(long, default_value_t = 50)]
    max_rows: usize,
    /// Op mix INSERT,UPDATE,DELETE weights.
    #[arg(long, default_value = "70,25,5")]
    mix: String,
    /// Fraction of UPDATE rows that change the primary key (ignored with --partition-by key).
    #[arg(long, default_value_t = 0.05)]
    pk_change: f64,
    /// Skewed keys: UPDATE/DELETE hit the hottest 1% of keys with this probability.
    #[arg(long)]
    hot: Option<f64>,
    #[arg(long, default_value_t = 0.1)]
    null_fraction: f64,
    /// ASCII-only text (no CJK/emoji/quotes/control characters).
    #[arg(long)]
    ascii: bool,
    /// Probability of a tricky text value (empty, or as long as the column allows).
    #[arg(long, default_value_t = 0.01)]
    tricky: f64,
    /// canal: do not reproduce canal's accumulating `old` columns quirk.
    #[arg(long)]
    no_old_quirk: bool,
}

impl WorkloadArgs {
    fn workload(&self) -> anyhow::Result<Workload> {
        let mut w = workload_with_tables(Workload::new(self.seed, self.format), &self.tables)?;
        w.database = self.db.clone();
        w.messages = self.messages;
        w.partitions = self.partitions;
        w.partitioning = self.partition_by;
        anyhow::ensure!(
            self.min_rows >= 1 && self.min_rows <= self.max_rows,
            "need 1 <= --min-rows <= --max-rows"
        );
        w.min_rows = self.min_rows;
        w.max_rows = self.max_rows;
        let mix: Vec<f64> = self
            .mix
            .split(',')
            .map(|s| s.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .context("--mix: three numbers INSERT,UPDATE,DELETE")?;
        anyhow::ensure!(
            mix.len() == 3 && mix.iter().sum::<f64>() > 0.0,
            "--mix needs three weights"
        );
        (w.insert_weight, w.update_weight, w.delete_weight) = (mix[0], mix[1], mix[2]);
        w.pk_change_fraction = self.pk_change;
        if let Some(p) = self.hot {
            w.key_dist = KeyDist::Hot {
                hot_fraction: 0.01,
                hot_probability: p,
            };
        }
        w.values.null_fraction = self.null_fraction;
        w.values.unicode = !self.ascii;
        w.values.tricky_fraction = self.tricky;
        w.canal_old_quirk = !self.no_old_quirk;
        Ok(w)
    }
}

/// `w` restricted to `--tables` (all tables when none are named).
fn workload_with_tables(w: Workload, tables: &[String]) -> anyhow::Result<Workload> {
    if tables.is_empty() {
        return Ok(w);
    }
    let names: Vec<&str> = tables.iter().map(String::as_str).collect();
    w.with_tables(&names).map_err(anyhow::Error::msg)
}

fn run() -> anyhow::Result<bool> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Ddl {
            db,
            tables,
            apply,
            user,
            password,
        } => {
            let w = workload_with_tables(Workload::new(0, Format::Canal), &tables)?;
            let sql = ddl(&db, &w.tables);
            match apply {
                Some(addr) => {
                    starpipe_perf::verify::execute_statements(&addr, &user, &password, &sql)?;
                    eprintln!("applied DDL for {} tables on {addr}", w.tables.len());
                }
                None => print!("{sql}"),
            }
            Ok(true)
        }
        Cmd::Generate { w, out, expected } => {
            let w = w.workload()?;
            let start = Instant::now();
            let mut g = w.generator();
            let (mut sink, mut parts): (Box<dyn Write>, Option<Box<dyn Write>>) = match &out {
                Some(p) => {
                    let f = std::fs::File::create(p).with_context(|| p.display().to_string())?;
                    let mut pp = p.clone().into_os_string();
                    pp.push(".partitions");
                    let pf = std::fs::File::create(&pp)?;
                    (
                        Box::new(BufWriter::with_capacity(1 << 20, f)),
                        Some(Box::new(BufWriter::new(pf))),
                    )
                }
                None => (Box::new(BufWriter::new(std::io::stdout().lock())), None),
            };
            for m in g.by_ref() {
                sink.write_all(m.payload.as_bytes())?;
                sink.write_all(b"\n")?;
                if let Some(p) = parts.as_mut() {
                    writeln!(p, "{}", m.partition)?;
                }
            }
            sink.flush()?;
            if let Some(p) = parts.as_mut() {
                p.flush()?;
            }
            let gen_secs = start.elapsed().as_secs_f64();
            if let Some(e) = &expected {
                g.expected_state().write_json_file(e)?;
            }
            let s = g.stats();
            eprintln!(
                "generated {} messages ({} bytes; rows: {} inserted, {} updated, {} deleted, {} key changes) in {:.2}s = {:.0} msgs/s; live rows: {:?}",
                s.messages,
                s.bytes,
                s.inserted_rows,
                s.updated_rows,
                s.deleted_rows,
                s.key_changes,
                gen_secs,
                s.messages as f64 / gen_secs.max(1e-9),
                g.live_rows()
            );
            Ok(true)
        }
        Cmd::Produce {
            w,
            brokers,
            topic,
            rate,
            create_topic: create,
            expected,
        } => {
            let w = w.workload()?;
            if create {
                let created = create_topic(&brokers, &topic, w.partitions as i32)?;
                eprintln!(
                    "topic {topic}: {}",
                    if created { "created" } else { "already exists" }
                );
            }
            let mut g = w.generator();
            let st = produce(&brokers, &topic, w.partitions as i32, g.by_ref(), rate)?;
            if let Some(e) = &expected {
                g.expected_state().write_json_file(e)?;
            }
            let s = g.stats();
            println!(
                "produced {} messages, {} bytes, {} rows ({} ins / {} upd / {} del, {} key changes) to {topic} in {:.2}s = {:.0} msgs/s; delivered {}, failed {}{}",
                st.messages,
                st.bytes,
                s.inserted_rows + s.updated_rows + s.deleted_rows,
                s.inserted_rows,
                s.updated_rows,
                s.deleted_rows,
                s.key_changes,
                st.elapsed_secs,
                st.messages as f64 / st.elapsed_secs.max(1e-9),
                st.delivered,
                st.failed,
                st.first_error
                    .as_deref()
                    .map(|e| format!(" (first error: {e})"))
                    .unwrap_or_default()
            );
            Ok(st.failed == 0 && st.delivered == st.messages)
        }
        Cmd::Verify {
            expected,
            mysql,
            user,
            password,
            db,
        } => {
            let mut exp = ExpectedState::read_json_file(&expected)
                .with_context(|| expected.display().to_string())?;
            if let Some(db) = db {
                exp.database = db;
            }
            let rep = verify(&exp, &mysql, &user, &password)?;
            print!("{}", rep.summary());
            Ok(rep.ok())
        }
        Cmd::FlinkSql {
            db,
            tables,
            topic,
            brokers,
            group,
            fe_http,
            fe_mysql,
            user,
            password,
            flush_interval_ms,
            buffer_bytes,
        } => {
            let w = workload_with_tables(Workload::new(0, Format::Canal), &tables)?;
            print!(
                "{}",
                starpipe_perf::flink::flink_sql(&starpipe_perf::flink::PeerJob {
                    tables: &w.tables,
                    source_db: &db,
                    target_db: &db,
                    topic: &topic,
                    brokers: &brokers,
                    group: &group,
                    fe_http: &fe_http,
                    fe_mysql: &fe_mysql,
                    user: &user,
                    password: &password,
                    flush_interval_ms,
                    buffer_bytes,
                })
            );
            Ok(true)
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("starpipe-workload: {e:#}");
            ExitCode::from(2)
        }
    }
}
