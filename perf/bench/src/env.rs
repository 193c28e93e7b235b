//! The real components a benchmark run needs: `starrocks-sim` (release build) and, through
//! `starpipe_perf::broker`, an Apache Kafka broker; plus the description of the machine that
//! goes into the results.

use std::path::Path;
use std::process::Command;

use serde::Serialize;
use starrocks_sim::launch::{Launch, SimProcess};

/// `starrocks-sim` (its addresses through `Deref`), killed on drop.
pub struct Sim(SimProcess);

impl std::ops::Deref for Sim {
    type Target = SimProcess;

    fn deref(&self) -> &SimProcess {
        &self.0
    }
}

impl Sim {
    pub fn start(bin: &Path, log: &Path) -> anyhow::Result<Sim> {
        std::fs::File::create(log)?;
        Ok(Sim(Launch::new(bin).log(log).start()?))
    }

    /// Rows StarRocks applied so far (`rows_loaded`, summed over loads).
    pub fn rows_loaded(&self) -> anyhow::Result<u64> {
        Ok(self.counters()?["rows_loaded"].as_u64().unwrap_or(0))
    }

    /// Switches the emulator to `target` mode until the returned guard is dropped (then back to
    /// applying).
    pub fn switched_to(&self, target: Target) -> anyhow::Result<TargetGuard<'_>> {
        self.set_discard(target == Target::Discard)?;
        Ok(TargetGuard(self))
    }

    fn set_discard(&self, discard: bool) -> anyhow::Result<()> {
        self.control_post("/config", &serde_json::json!({ "discard": discard }))?;
        Ok(())
    }

    /// Drops `db` (freeing its rows) and creates it again with `tables`.
    pub fn recreate_database(
        &self,
        db: &str,
        tables: &[starpipe_perf::Table],
    ) -> anyhow::Result<()> {
        let sql = format!(
            "DROP DATABASE IF EXISTS {db};\n{}",
            starpipe_perf::ddl(db, tables)
        );
        starpipe_perf::verify::execute_statements(&self.query, "root", "", &sql)
    }
}

/// What the emulator does with the rows of a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Applies them, as StarRocks does: the tables can be compared with the model.
    Apply,
    /// Receives, parses and validates every load and answers it in full, but applies nothing
    /// (`starrocks-sim --discard`): the client is measured apart from the emulator's apply cost.
    Discard,
}

impl Target {
    /// How progress lines and file names say it.
    pub fn label(self) -> &'static str {
        match self {
            Target::Apply => "applied",
            Target::Discard => "discard",
        }
    }
}

/// Sets the emulator back to applying when dropped.
pub struct TargetGuard<'a>(&'a Sim);

impl Drop for TargetGuard<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.set_discard(false) {
            eprintln!("starpipe-bench: could not set starrocks-sim back to applying: {e:#}");
        }
    }
}

/// What the results say about the machine.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub host: String,
    pub cpus: usize,
    pub cpu_model: String,
    pub mem_total_mb: u64,
    pub kernel: String,
    pub load_average_at_start: String,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .unwrap_or("unknown")
            .trim()
            .to_string();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_total_mb = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024;
        Machine {
            host: hostname(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            mem_total_mb,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
            load_average_at_start: std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
                .to_string(),
        }
    }
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// First line of `cmd --version`, or what went wrong.
pub fn version_of(cmd: &str, args: &[&str]) -> String {
    match Command::new(cmd).args(args).output() {
        Ok(o) => {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        }
        Err(e) => format!("unavailable: {e}"),
    }
}
