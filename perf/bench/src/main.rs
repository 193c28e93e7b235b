//! `starpipe-bench`: the program behind `perf/run` (see `perf/README.md`). On this machine, in
//! one run, on the same data: the source ceiling (null consumer), the sink ceiling (pre-encoded
//! Stream Load bodies), `starpipe run` end to end applied (2 partition threads) and against the
//! emulator's discard target (1, 2 and 4), a paced run for latency, the Flink SQL peer applied
//! and against the discard target, and the criterion decode benches; every applied run is
//! checked against the generator's expected tables. Writes `perf/results/<date>-<host>.json`
//! and an SVG plot, prints a summary table and the goals (`results.rs`), and ends with one JSON
//! line.

mod criterion;
mod e2e;
mod env;
mod measure;
mod peer;
mod results;
mod sink;
mod source;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use serde::Serialize;
use serde_json::json;
use starpipe_perf::{Format, Workload};

use crate::e2e::{E2eRun, Inputs, JobSettings, LatencyInputs, LatencyRun};
use crate::env::{Machine, Sim, Target};
use crate::peer::PeerSettings;
use crate::results::{Runs, fmt_opt};
use starpipe_perf::broker::Broker;

#[derive(Parser)]
#[command(
    name = "starpipe-bench",
    about = "perf/run: starpipe against its ceilings and the Flink SQL peer"
)]
struct Cli {
    /// Smoke run: small workload, short phases (under 5 minutes once built).
    #[arg(long)]
    quick: bool,
    /// Repository root.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Messages in the workload (default 120000, about 1.9 GB, 29x the default budget; 110000
    /// with --quick). Sized for at least 10 s of steady state in every measured run (the
    /// `steady_state_secs` goal says whether it was).
    #[arg(long)]
    messages: Option<u64>,
    /// The workload is written this many times, one after the other, and every run reads all
    /// of it: rows enough for 10 s of steady state at starpipe's rate, while the generator's
    /// model and the emulator's tables hold one pass's keys. Every pass ends in the same state
    /// (each change is a full-row upsert or a delete by key), the model's.
    #[arg(long, default_value_t = 3)]
    passes: u32,
    /// `totalDataInMemMb` for the starpipe runs (default 64, or 16 with --quick).
    #[arg(long)]
    budget_mb: Option<u64>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Topic partitions; table `i` of the workload goes to partition `i % partitions`.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Weight the tables so that each carries about the same bytes, instead of picking every
    /// message's table uniformly (the `wide` table then carries about 75 % of the bytes, and
    /// its partition is the critical path).
    #[arg(long)]
    balanced_tables: bool,
    /// Use this Kafka cluster instead of starting a local broker.
    #[arg(long, env = "STARPIPE_TEST_BROKERS")]
    brokers: Option<String>,
    #[arg(long)]
    skip_peer: bool,
    #[arg(long)]
    skip_criterion: bool,
    #[arg(long)]
    skip_latency: bool,
    /// Skip the discard-target runs (scaling and the ceiling apart from the emulator).
    #[arg(long)]
    skip_discard: bool,
    /// Where the starpipe and starrocks-sim binaries are (relative to --root). Debug builds
    /// check the harness itself; measurements need the release build.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Directory for the results JSON and plot.
    #[arg(long, default_value = "perf/results")]
    out_dir: PathBuf,
    /// Keep the working directory (job files, starpipe's logs) for a look after the run.
    #[arg(long)]
    keep_work: bool,
    /// Only decode and encode one pass of the workload in memory, as the sink ceiling does,
    /// print the CPU time, and exit: no broker, no emulator, no results file. For profiling
    /// starpipe's decode+encode on this workload (`valgrind --tool=callgrind
    /// --toggle-collect='*sink::decode_encode'`).
    #[arg(long)]
    decode_encode_only: bool,
}

/// The most messages of the paced run (latency).
const PACED_MAX_MESSAGES: u64 = 100_000;

fn step(msg: &str) {
    eprintln!("== {msg}");
}

fn today() -> String {
    // The system's own idea of the local date, without a date crate.
    std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-date".into())
}

/// Each table's expected share of the messages, rounded to 3 digits.
fn table_message_shares(w: &Workload) -> Vec<f64> {
    let weights = w
        .table_weights
        .clone()
        .unwrap_or_else(|| vec![1.0; w.tables.len()]);
    let total: f64 = weights.iter().sum();
    weights
        .iter()
        .map(|x| (x / total * 1000.0).round() / 1000.0)
        .collect()
}

#[derive(Serialize)]
struct WorkloadInfo {
    format: &'static str,
    tables: Vec<&'static str>,
    /// Messages of one pass.
    messages: u64,
    /// Passes of the workload in the topic (`--passes`).
    passes: u32,
    partitions: u32,
    rows_per_message: String,
    /// Each table's share of the messages (uniform unless `--balanced-tables`).
    table_message_shares: Vec<f64>,
    op_mix: String,
    pk_change_fraction: f64,
    seed: u64,
    source_rows: u64,
    source_bytes: u64,
    produce_secs: f64,
    stats: starpipe_perf::Stats,
}

/// The workload `cli` asks for, in source database `db`.
fn workload(cli: &Cli, db: &str, messages: u64) -> Workload {
    let mut w = Workload::new(cli.seed, Format::Canal);
    w.database = db.into();
    w.messages = messages;
    w.partitions = cli.partitions;
    w.partitioning = starpipe_perf::workload::Partitioning::Spread;
    if cli.balanced_tables {
        w.table_weights = Some(starpipe_perf::workload::byte_balanced_weights(&w, 4000));
    }
    w
}

/// `--decode-encode-only`: the sink ceiling's decode+encode of one pass, and nothing else.
fn decode_encode_only(w: &Workload, batch_bytes: usize) -> anyhow::Result<()> {
    step("decode+encode of one pass in memory (no broker, no emulator)");
    let (bodies, cpu) = sink::encode_bodies(w, "bench_sink", batch_bytes)?;
    let rows: u64 = bodies.iter().flat_map(|(_, b)| b).map(|b| b.rows).sum();
    let cpu = cpu.as_secs_f64();
    eprintln!(
        "   {rows} body rows, {cpu:.2} CPU-s, {:.2} CPU-s per M body rows",
        cpu / (rows as f64 / 1e6)
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("starpipe-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let root = std::fs::canonicalize(&cli.root)?;
    let quick = cli.quick;
    let messages = cli
        .messages
        .unwrap_or(if quick { 110_000 } else { 120_000 });
    let budget = cli.budget_mb.unwrap_or(if quick { 16 } else { 64 });
    let source_db = "bench";
    let w = workload(&cli, source_db, messages);
    let batch_mb = (budget / 4).clamp(1, 64);
    if cli.decode_encode_only {
        return decode_encode_only(&w, (batch_mb as usize) << 20);
    }
    let bins = root.join(&cli.bin_dir);
    let (starpipe_bin, sim_bin) = (bins.join("starpipe"), bins.join("starrocks-sim"));
    for b in [&starpipe_bin, &sim_bin] {
        anyhow::ensure!(
            b.exists(),
            "{} is missing: build with perf/run",
            b.display()
        );
    }
    let work = std::env::temp_dir().join(format!("starpipe-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let started = Instant::now();
    let machine = Machine::read();

    step("starting Apache Kafka and starrocks-sim");
    let broker = match &cli.brokers {
        Some(b) => Broker::external(b.clone()),
        None => Broker::start(
            &root.join("tests/kafka/broker"),
            &work.join("kafka"),
            "-Xmx1g -Xms1g",
            starrocks_sim::launch::free_ports()?,
        )?,
    };
    let sim = Sim::start(&sim_bin, &work.join("sim.log"))?;
    eprintln!(
        "   kafka {} (local: {}), sim FE {}",
        broker.bootstrap,
        broker.is_local(),
        sim.fe_http
    );

    // ---- workload
    let shares = table_message_shares(&w);
    let topic = format!("bench-cdc-{}", std::process::id());
    let passes = cli.passes.max(1);
    step(&format!(
        "producing {messages} canal-json messages to {topic} ({} partitions), {passes} time(s)",
        cli.partitions
    ));
    starpipe_perf::create_topic(&broker.bootstrap, &topic, cli.partitions as i32)?;
    let mut generator = w.generator();
    let ps = starpipe_perf::produce(
        &broker.bootstrap,
        &topic,
        cli.partitions as i32,
        &mut generator,
        None,
    )?;
    anyhow::ensure!(ps.failed == 0, "produce failed: {:?}", ps.first_error);
    let stats = generator.stats().clone();
    let expected = generator.expected_state();
    drop(generator);
    let mut produce_secs = ps.elapsed_secs;
    for _ in 1..passes {
        // The same messages again: a fresh generator of the same workload.
        let again = starpipe_perf::produce(
            &broker.bootstrap,
            &topic,
            cli.partitions as i32,
            w.generator(),
            None,
        )?;
        anyhow::ensure!(again.failed == 0, "produce failed: {:?}", again.first_error);
        produce_secs += again.elapsed_secs;
    }
    let pass_rows = stats.inserted_rows + stats.updated_rows + stats.deleted_rows;
    let source_rows = pass_rows * u64::from(passes);
    let source_bytes = stats.bytes * u64::from(passes);
    eprintln!(
        "   {} messages × {passes}, {:.1} MB, {source_rows} rows in {produce_secs:.1} s",
        ps.messages,
        source_bytes as f64 / 1e6,
    );
    let workload = WorkloadInfo {
        format: "canal-json",
        tables: w.tables.iter().map(|t| t.name).collect(),
        messages,
        passes,
        partitions: cli.partitions,
        rows_per_message: format!("{}..={}", w.min_rows, w.max_rows),
        table_message_shares: shares,
        op_mix: format!(
            "{}/{}/{} insert/update/delete",
            w.insert_weight, w.update_weight, w.delete_weight
        ),
        pk_change_fraction: w.pk_change_fraction,
        seed: cli.seed,
        source_rows,
        source_bytes,
        produce_secs,
        stats: stats.clone(),
    };

    // ---- ceilings
    step("source ceiling: null consumer (same librdkafka settings as starpipe)");
    let source = source::measure(&broker.bootstrap, &topic, source_rows, budget)?;
    eprintln!(
        "   {:.0} rows/s, {:.1} MB/s",
        source.rows_per_s, source.mb_per_s
    );

    step("sink ceiling: pre-encoded Stream Load bodies into starrocks-sim");
    let batch_bytes = (batch_mb as usize) << 20;
    let mut sink = sink_measurement(&w, &sim, batch_bytes, |bodies, sim| {
        sink::measure(bodies, sim, pass_rows)
    })?;
    eprintln!(
        "   {:.0} rows/s, {:.1} MB/s of bodies ({} loads)",
        sink.rows_per_s, sink.mb_per_s, sink.loads
    );

    // ---- starpipe end to end
    let inputs = Inputs {
        starpipe: &starpipe_bin,
        sim: &sim,
        work: &work,
        brokers: &broker.bootstrap,
        topic: &topic,
        source_db,
        tables: &w.tables,
        source_rows,
        source_bytes,
        expected: &expected,
    };
    let settings = |threads: u32| JobSettings {
        consume_parallel: threads,
        total_data_in_mem_mb: budget,
        flush_batch_mb: batch_mb,
        async_flush_interval_sec: 1,
        session_timeout_ms: 6000,
    };
    step(&format!(
        "starpipe run --stop-at-end, 2 partition threads, totalDataInMemMb = {budget}"
    ));
    let e2e = e2e::run_to_end("e2e_2", &inputs, &settings(2), Target::Apply)?;
    report_e2e(&e2e);
    step("sink ceiling again, right after the applied run");
    match sink_measurement(&w, &sim, batch_bytes, |bodies, sim| {
        sink::repeat(bodies, sim, pass_rows)
    }) {
        Ok(again) => {
            eprintln!("   {:.0} rows/s", again.rows_per_s);
            sink.after_applied = Some(again);
        }
        // The runs after this one are worth more than this figure: go on without it.
        Err(e) => eprintln!("   failed, the applied goal will have no value: {e:#}"),
    }
    let mut discard = Vec::new();
    let discard_threads: &[u32] = if cli.skip_discard {
        &[]
    } else {
        &DISCARD_THREADS
    };
    for &threads in discard_threads {
        step(&format!(
            "starpipe run --stop-at-end, {threads} partition thread(s), discard target"
        ));
        let r = e2e::run_to_end(
            &format!("discard_{threads}"),
            &inputs,
            &settings(threads),
            Target::Discard,
        )?;
        report_e2e(&r);
        discard.push(r);
    }

    // ---- latency
    let latency: Option<LatencyRun> = if cli.skip_latency {
        None
    } else {
        let applied = e2e.steady_rows_per_s.unwrap_or(e2e.rows_per_s);
        let msgs_per_s = applied / (pass_rows as f64 / messages as f64);
        let rate = (msgs_per_s * 0.5).max(1.0);
        let most_secs = if quick { 10.0 } else { 45.0 };
        let mut lw = w.clone();
        lw.seed = cli.seed + 1;
        // The generator's model and the emulator's tables grow with the messages: a fast run's
        // 45 s held more than this machine's memory (the harness was OOM-killed at 265,000).
        lw.messages = ((rate * most_secs) as u64).min(PACED_MAX_MESSAGES);
        let secs = lw.messages as f64 / rate;
        step(&format!(
            "paced run at 50% of the measured rate: {rate:.0} messages/s for {secs:.0} s"
        ));
        let l = e2e::latency(
            LatencyInputs {
                starpipe: &starpipe_bin,
                sim: &sim,
                work: &work,
                brokers: &broker.bootstrap,
                workload: lw,
                rate_msgs_per_s: rate,
                heartbeat_every: Duration::from_millis(100),
            },
            &settings(2),
        )?;
        eprintln!(
            "   p50 {:.0} ms, p99 {:.0} ms over {} heartbeats; correct: {}",
            l.p50_ms, l.p99_ms, l.heartbeats, l.verified.correct
        );
        Some(l)
    };

    // ---- peer
    let peer_settings = PeerSettings {
        parallelism: 2,
        flush_interval_ms: settings(2).async_flush_interval_sec * 1000,
        buffer_bytes: budget << 20,
    };
    let (peer, peer_discard) = if cli.skip_peer {
        (None, None)
    } else {
        (
            Some(run_peer(&root, &inputs, peer_settings, Target::Apply)?),
            Some(run_peer(&root, &inputs, peer_settings, Target::Discard)?),
        )
    };

    // ---- criterion
    let decode = if cli.skip_criterion {
        None
    } else {
        step("criterion decode benches (benches/decode.rs)");
        Some(criterion::run(&root, quick, &work.join("criterion.log"))?)
    };

    // ---- results
    let date = today();
    let host = env::hostname();
    let out_dir = if cli.out_dir.is_absolute() {
        cli.out_dir.clone()
    } else {
        root.join(&cli.out_dir)
    };
    std::fs::create_dir_all(&out_dir)?;
    let json_path = out_dir.join(format!("{date}-{host}.json"));
    let svg_path = out_dir.join(format!("{date}-{host}.svg"));

    let runs = Runs {
        source: &source,
        sink: &sink,
        e2e: &e2e,
        discard: &discard,
        latency: latency.as_ref(),
        peer: peer.as_ref(),
        peer_discard: peer_discard.as_ref(),
        decode: decode.as_ref(),
        budget_mb: budget,
        cpus: machine.cpus,
        pass_rows,
        source_bytes,
    };
    let goals = runs.goals();
    let summary = runs.summary();
    let title = format!(
        "perf/run {date}, {host} ({} CPUs): {} canal-json messages × {passes}, {:.0} MB, {} rows, {} partitions{}",
        machine.cpus,
        messages,
        source_bytes as f64 / 1e6,
        source_rows,
        cli.partitions,
        if quick { " (quick)" } else { "" }
    );
    let (bars, series) = runs.plot();
    starpipe_perf::plot::write_svg(&svg_path, &title, &bars, &series)?;

    let versions = json!({
        "starpipe": env::version_of(starpipe_bin.to_str().unwrap_or("starpipe"), &["--version"]),
        "rustc": env::version_of("rustc", &["--version"]),
        "kafka": std::env::var("STARPIPE_KAFKA_VERSION").unwrap_or_else(|_| "3.9.1".into()),
        "librdkafka": rdkafka::util::get_rdkafka_version().1,
        "java": env::version_of("java", &["-version"]),
        "git_commit": env::version_of("git", &["-C", root.to_str().unwrap_or("."), "rev-parse", "HEAD"]),
    });
    let results = json!({
        "date": date,
        "host": host,
        "quick": quick,
        "machine": machine,
        "versions": versions,
        "workload": workload,
        "source_ceiling": source,
        "sink_ceiling": sink,
        "e2e": e2e,
        "discard": discard,
        "scaling": runs.scaling(),
        "latency": latency,
        "peer": peer,
        "peer_discard": peer_discard,
        "decode_benches": decode,
        "goals": goals,
        "plot": svg_path.strip_prefix(&root).unwrap_or(&svg_path),
        "bench_secs": started.elapsed().as_secs_f64(),
        "summary": summary,
    });
    std::fs::write(&json_path, serde_json::to_string_pretty(&results)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    drop(sim);
    drop(broker);
    if cli.keep_work {
        eprintln!("working directory kept: {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }

    runs.print_table();
    println!(
        "results: {}  plot: {}",
        json_path
            .strip_prefix(&root)
            .unwrap_or(&json_path)
            .display(),
        svg_path.strip_prefix(&root).unwrap_or(&svg_path).display()
    );
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

/// One measurement of the sink ceiling (`measure` or `repeat`): the workload's bodies encoded
/// and sent into a fresh `bench_sink`, left empty after. The bodies (about 1 GB at full size)
/// are dropped here, so they are not held while starpipe runs, and encoded again for each
/// measurement.
fn sink_measurement<T>(
    w: &Workload,
    sim: &Sim,
    batch_bytes: usize,
    send: impl FnOnce(&sink::SinkBodies, &Sim) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let bodies = sink::prepare(w, "bench_sink", batch_bytes)?;
    sim.recreate_database("bench_sink", &w.tables)?;
    let measured = send(&bodies, sim)?;
    sim.recreate_database("bench_sink", &[])?;
    Ok(measured)
}

/// Partition threads of the discard-target runs (the scaling points).
const DISCARD_THREADS: [u32; 3] = [1, 2, 4];

fn run_peer(
    root: &std::path::Path,
    inputs: &Inputs<'_>,
    settings: PeerSettings,
    target: Target,
) -> anyhow::Result<peer::PeerRun> {
    step(&format!(
        "peer: Flink SQL canal-json → StarRocks Flink connector (perf/flink/run-peer), {}",
        target.label()
    ));
    let p = peer::run(root, inputs, settings, target)?;
    match (&p.rows_per_s, &p.reason) {
        (Some(r), _) => eprintln!(
            "   {r:.0} rows/s (steady {}), peak RSS {:.0} MB, {} source scan(s); correct: {}",
            fmt_opt(p.steady_rows_per_s, 0),
            p.peak_rss_mb.unwrap_or(f64::NAN),
            p.source_scans.map_or_else(|| "?".into(), |n| n.to_string()),
            p.verified
                .as_ref()
                .map_or_else(|| "-".into(), |v| v.correct.to_string())
        ),
        (None, reason) => eprintln!("   {}: {}", p.status, reason.as_deref().unwrap_or("")),
    }
    Ok(p)
}

fn report_e2e(r: &E2eRun) {
    eprintln!(
        "   {:.0} rows/s (steady {}), {:.1} MB/s, {:.1} CPU-s per M rows, peak RSS {:.0} MB, {:.1} s; correct: {}",
        r.rows_per_s,
        fmt_opt(r.steady_rows_per_s, 0),
        r.mb_per_s,
        r.cpu_s_per_m_rows,
        r.measured.peak_rss_mb,
        r.measured.wall_s,
        r.verified
            .as_ref()
            .map_or_else(|| "- (discard target)".into(), |v| v.correct.to_string())
    );
    if let Some(c) = r.measured.steady.as_ref().map(|s| s.cores()) {
        eprintln!(
            "   cores busy in the steady state: starpipe {}, starrocks-sim {}, the machine {} (steal {})",
            fmt_opt(c.measured, 2),
            fmt_opt(c.sim, 2),
            fmt_opt(c.machine, 2),
            fmt_opt(c.steal, 2)
        );
    }
    if let Some(s) = r
        .measured
        .steady
        .as_ref()
        .filter(|s| !s.busiest_threads.is_empty())
    {
        let busiest: Vec<String> = (s.busiest_threads.iter().take(4))
            .map(|t| format!("{} {:.2}", t.name, t.cores))
            .collect();
        eprintln!("   busiest threads (cores): {}", busiest.join(", "));
    }
    if let Some(v) = r.verified.as_ref().filter(|v| !v.correct) {
        eprintln!("{}", v.summary);
    }
}
