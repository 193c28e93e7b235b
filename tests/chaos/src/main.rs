//! `tests/chaos/run`: the fault campaign. A real Kafka broker, starrocks-sim and `starpipe run`
//! under kill -9, broker restarts, a StarRocks outage, rebalances and a soak through the faults
//! of starrocks.md §9.4; every scenario ends with the tables compared row by row with the
//! workload's model and the committed offsets checked never to pass unloaded rows
//! ([`history`]). See README "Fault campaign".

mod history;
mod scenarios;
mod stage;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use serde::Serialize;
use starpipe_perf::broker::Broker;
use starrocks_sim::launch::{Launch, SimProcess};

use crate::stage::Tally;

#[derive(Parser)]
#[command(
    name = "starpipe-chaos",
    about = "The fault campaign (run it through tests/chaos/run)"
)]
struct Cli {
    /// Repository root.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// A few minutes: 5 kills, one broker restart, one short StarRocks outage, a short
    /// rebalance run and a one-minute soak (the default).
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// About an hour: 50 kills, a broker restart and 60 s without a broker, a 2-minute
    /// StarRocks outage, 30 rebalance events and a 30-minute soak.
    #[arg(long)]
    full: bool,
    /// Seed of the workloads and of the fault moments (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Only these scenarios (comma-separated names), for working on one.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The `starpipe` binary.
    #[arg(long)]
    starpipe: PathBuf,
    /// The `starrocks-sim` binary.
    #[arg(long)]
    sim: PathBuf,
    /// Where the report goes.
    #[arg(long, default_value = "tests/chaos/results")]
    out_dir: PathBuf,
}

/// The components every scenario shares.
pub struct Env {
    pub broker: Broker,
    pub sim: SimProcess,
    pub starpipe: PathBuf,
    pub work: PathBuf,
}

/// The sizes of a campaign.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub mode: &'static str,
    pub kills: u32,
    /// Seconds between kills, uniform in this range.
    pub kill_gap_s: (u64, u64),
    /// Messages/s the scenarios other than the soak produce.
    pub rate: f64,
    /// The broker stays down this long after the restart scenario's quick restart (None: only
    /// the restart).
    pub broker_down_s: Option<u64>,
    pub outage_s: u64,
    pub rebalance_events: u32,
    pub event_gap_s: (u64, u64),
    /// Messages of the soak's calibration burst (produced at full speed, timed to committed).
    pub calibration_messages: u64,
    pub soak_s: u64,
    /// The soak's rate is half the calibrated one, at most this (the model's memory grows with
    /// the rows between two checks).
    pub soak_rate_cap: f64,
    /// Seconds between the soak's checks.
    pub soak_check_s: u64,
}

impl Plan {
    fn quick() -> Plan {
        Plan {
            mode: "quick",
            kills: 5,
            kill_gap_s: (2, 6),
            rate: 150.0,
            broker_down_s: None,
            outage_s: 20,
            rebalance_events: 6,
            event_gap_s: (3, 7),
            calibration_messages: 3_000,
            soak_s: 60,
            soak_rate_cap: 400.0,
            soak_check_s: 10,
        }
    }

    fn full() -> Plan {
        Plan {
            mode: "full",
            kills: 50,
            kill_gap_s: (2, 12),
            rate: 400.0,
            broker_down_s: Some(60),
            outage_s: 120,
            rebalance_events: 30,
            event_gap_s: (3, 10),
            calibration_messages: 30_000,
            soak_s: 30 * 60,
            soak_rate_cap: 2_000.0,
            soak_check_s: 15,
        }
    }
}

/// One scenario's outcome, as the report holds it.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub name: String,
    pub passed: bool,
    pub error: Option<String>,
    pub seconds: f64,
    #[serde(flatten)]
    pub tally: Tally,
    /// What the scenario did besides the tally (fault moments, rates, faults fired).
    pub notes: serde_json::Value,
}

impl Outcome {
    fn line(&self) -> String {
        let t = &self.tally;
        let verdict = if self.passed { "PASS" } else { "FAIL" };
        let mut s = format!(
            "{:<16} {verdict} {:>6.1} s  messages {}  checks {}  rows checked {}  kills {}  \
             starts {}  assignments {}  loads {}  retries {}  max RSS {:.1} MB",
            self.name,
            self.seconds,
            t.messages,
            t.checks,
            t.rows_checked,
            t.kills,
            t.starts,
            t.assignments,
            t.loads,
            t.retries,
            t.max_rss_mb
        );
        if let Some(e) = &self.error {
            s.push_str(&format!("\n  error: {}", e.replace('\n', "\n  ")));
        }
        for e in &t.examples {
            s.push_str(&format!("\n  difference: {e}"));
        }
        s
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("starpipe-chaos: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn date(fmt: &str) -> String {
    // The system's own clock and zone, without a date crate.
    std::process::Command::new("date")
        .args(["-u", fmt])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-date".into())
}

fn run() -> anyhow::Result<bool> {
    let cli = Cli::parse();
    let root = std::fs::canonicalize(&cli.root)?;
    let plan = if cli.full {
        Plan::full()
    } else {
        Plan::quick()
    };
    let seed = cli.seed.unwrap_or_else(|| {
        starpipe_perf::rng::mix(now_s() ^ std::process::id() as u64) % 1_000_000
    });
    let started_at = date("+%Y-%m-%dT%H:%M:%SZ");
    let work = std::env::temp_dir().join(format!("starpipe-chaos-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    eprintln!(
        "chaos: {} campaign, seed {seed}, work directory {}",
        plan.mode,
        work.display()
    );
    let t0 = Instant::now();
    let broker = Broker::start(
        &root.join("tests/kafka/broker"),
        &work.join("kafka"),
        "-Xmx512m -Xms256m",
        starrocks_sim::launch::free_ports()?,
    )
    .context("starting the Kafka broker")?;
    let sim = Launch::new(&cli.sim)
        .log(&work.join("sim.log"))
        .die_with_parent()
        .start()
        .context("starting starrocks-sim")?;
    eprintln!(
        "chaos: broker {} and starrocks-sim up in {:.1?}",
        broker.bootstrap,
        t0.elapsed()
    );
    let env = Env {
        broker,
        sim,
        starpipe: std::fs::canonicalize(&cli.starpipe)
            .with_context(|| format!("{} is missing", cli.starpipe.display()))?,
        work: work.clone(),
    };

    let mut outcomes = Vec::new();
    for (i, (name, scenario)) in scenarios::ALL.iter().enumerate() {
        if !cli.only.is_empty() && !cli.only.iter().any(|o| o == name) {
            continue;
        }
        let s = Instant::now();
        eprintln!("chaos: == {name}");
        let (tally, notes, error) = scenarios::run(&env, &plan, name, *scenario, seed + i as u64);
        let outcome = Outcome {
            name: name.to_string(),
            passed: error.is_none() && tally.differences == 0,
            error,
            seconds: s.elapsed().as_secs_f64(),
            tally,
            notes,
        };
        println!("{}", outcome.line());
        outcomes.push(outcome);
    }

    let passed = outcomes.iter().filter(|o| o.passed).count();
    let rows_checked: u64 = outcomes.iter().map(|o| o.tally.rows_checked).sum();
    let kills: u64 = outcomes.iter().map(|o| o.tally.kills).sum();
    let max_rss = outcomes
        .iter()
        .map(|o| o.tally.max_rss_mb)
        .fold(0.0, f64::max);
    let ok = passed == outcomes.len();
    let report = serde_json::json!({
        "mode": plan.mode,
        "seed": seed,
        "started": started_at,
        "seconds": t0.elapsed().as_secs_f64(),
        "host": std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim(),
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "starpipe": env.starpipe,
        "plan": plan,
        "scenarios": outcomes,
        "summary": {
            "scenarios": outcomes.len(),
            "passed": passed,
            "rows_checked": rows_checked,
            "kills": kills,
            "max_rss_mb": max_rss,
        },
    });
    let out_dir = root.join(&cli.out_dir);
    std::fs::create_dir_all(&out_dir)?;
    let path = out_dir.join(format!(
        "{}-{}-seed{seed}.json",
        date("+%Y-%m-%dT%H%M%SZ"),
        plan.mode
    ));
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")?;
    eprintln!("chaos: report {}", path.display());
    if ok {
        // The logs of a passing campaign are not needed (a failing one's are kept to read).
        drop(env);
        let _ = std::fs::remove_dir_all(&work);
    } else {
        eprintln!("chaos: logs kept in {}", work.display());
    }
    // The last line, in this key order, is what scripts read.
    println!(
        "{{\"scenarios\": {}, \"passed\": {passed}, \"rows_checked\": {rows_checked}, \
         \"kills\": {kills}, \"max_rss_mb\": {:.1}}}",
        outcomes.len(),
        max_rss
    );
    Ok(ok)
}

/// A random duration in `[lo, hi]` seconds (millisecond resolution).
pub fn between(rng: &mut starpipe_perf::rng::Rng, (lo, hi): (u64, u64)) -> Duration {
    Duration::from_millis(rng.range(lo * 1000, hi * 1000))
}
