//! `starpipe verify`: compares the target tables with the last change per key of a topic window.
//!
//! 1. Read the window (`window.rs`) with the job's decoders and routing; keep per target table
//!    and key the last change as the loader's encoder writes it (`changes.rs`, `tables.rs`,
//!    `expected.rs`), within a memory bound.
//! 2. Look the keys up in StarRocks (`query.rs`) and compare column by column (`compare.rs`).
//! 3. Keys that differ are checked again after `--recheck-after`, against a re-read of the
//!    topic from the first pass's end, so rows a running job has in flight are not reported.
//! 4. With `--repair`, load the expected images of what still differs (`repair.rs`) and check
//!    those keys again.
//! 5. The result is a [`Report`] (`report.rs`).
//!
//! Nothing here commits for the job's group or touches its offsets.

mod changes;
pub mod compare;
mod expected;
mod query;
mod repair;
pub mod report;
mod tables;
mod window;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use glob::Pattern;

use crate::config::{Config, ConfigError};
use crate::engine::Catalog;
use crate::model::ChangeOp;
use crate::position::PositionError;
use crate::schema::TargetTable;
use crate::tls::{TargetTls, TlsError};
use changes::{ChangeReader, ReadStats};
use compare::Outcome;
use expected::{Expected, Image, Key, TableImages};
use query::Lookup;
pub use report::{RecheckReport, RepairReport, Report, Sample, TableReport, WindowReport};
use tables::Targets;
use window::{Range, Record};
pub use window::{WindowEnd, WindowStart};

/// Every Kafka metadata call waits at most this long.
const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);
/// Progress is reported every this many messages.
const PROGRESS_EVERY: u64 = 1000;

/// What to verify and how.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub from: WindowStart,
    pub to: WindowEnd,
    /// `--table`: globs over target `db.table`; empty = every table.
    pub tables: Vec<Pattern>,
    pub recheck_after: Duration,
    pub repair: bool,
    /// Bytes the window's last images may take.
    pub max_memory_bytes: u64,
}

/// Where `verify` is, for a progress display. Every method has a silent default.
pub trait Progress {
    /// A step starts (reading the window, waiting for the recheck, repairing).
    fn step(&self, _what: &str) {}
    /// Messages read so far in this step.
    fn read(&self, _messages: u64) {}
    /// Keys of `table` checked so far in this step, of `total`.
    fn checked(&self, _table: &str, _checked: u64, _total: u64) {}
}

/// No progress display.
pub struct Quiet;

impl Progress for Quiet {}

/// Why `verify` could not finish (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Position(#[from] PositionError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("reading the topic window: {0}")]
    Read(rdkafka::error::KafkaError),
    #[error("reading the topic window: no message from {} for {} s", partitions.join(", "), waited.as_secs())]
    Stalled {
        partitions: Vec<String>,
        waited: Duration,
    },
    #[error("target table {table}: {message} (leave it out with --table)")]
    Target { table: String, message: String },
    #[error("querying {table}: {message}")]
    Query { table: String, message: String },
    #[error(
        "the window's last images need more than the memory bound of {} MiB (--max-memory-mb, \
         default target.totalDataInMemMb); verify a narrower window (--from/--to) or fewer \
         tables (--table)",
        bound >> 20
    )]
    Memory { bound: u64 },
    #[error("repairing {table}: {message}")]
    Repair { table: String, message: String },
}

/// The keys of one table and those that differ.
struct TableCheck {
    table: Arc<TargetTable>,
    checked: u64,
    /// Sorted by key.
    diffs: Vec<(Key, Outcome)>,
}

/// Runs `starpipe verify` for `config`.
pub fn verify(
    config: &Config,
    options: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<Report, VerifyError> {
    let password = config.target.password()?;
    let target = &config.target;
    let tls = TargetTls::new(target)?;
    let catalog = Catalog::new(target, password.expose(), &tls);
    let targets = Targets::new(config, &catalog, &options.tables);
    let ranges = window::resolve(&config.source, options.from, options.to, KAFKA_TIMEOUT)?;
    let mut state = Expected::new(options.max_memory_bytes);
    progress.step("reading the topic window");
    let stats = read_window(config, &targets, &ranges, &mut state, progress)?;
    let memory_bytes = state.bytes();
    let mut lookup = Lookup::new(&catalog, target.max_in_size_per_query);
    let mut checks = BTreeMap::new();
    for (name, images) in state.tables() {
        let keys: Vec<&Key> = images.images.keys().collect();
        checks.insert(
            name.clone(),
            check_table(name, images, &keys, &mut lookup, progress)?,
        );
    }
    let recheck = if checks.values().any(|c| !c.diffs.is_empty()) {
        let pass = SecondPass {
            config,
            targets: &targets,
            after: options.recheck_after,
        };
        Some(pass.run(&ranges, &mut state, &mut checks, &mut lookup, progress)?)
    } else {
        None
    };
    let repairs = match options.repair {
        true => {
            let repairer = repair::Repairer::new(config, password.expose(), &catalog, &tls);
            repair_all(repairer, &state, &checks, &mut lookup, progress)?
        }
        false => HashMap::new(),
    };
    let mut window = window_report(options, &ranges, &stats, memory_bytes);
    window.recheck = recheck;
    Ok(report(&state, checks, repairs, window, lookup.queries()))
}

/// Reads `ranges` into `state`.
fn read_window(
    config: &Config,
    targets: &Targets<'_>,
    ranges: &[Range],
    state: &mut Expected,
    progress: &dyn Progress,
) -> Result<ReadStats, VerifyError> {
    let mut reader = ChangeReader::new(config, targets);
    let mut sink = |record: &Record<'_>| {
        reader.apply(record, state)?;
        if reader.stats.messages.is_multiple_of(PROGRESS_EVERY) {
            progress.read(reader.stats.messages);
        }
        Ok(())
    };
    window::read(&config.source, ranges, &mut sink)?;
    progress.read(reader.stats.messages);
    Ok(reader.stats)
}

/// Looks `keys` of one table up and compares them with their images.
fn check_table(
    name: &str,
    images: &TableImages,
    keys: &[&Key],
    lookup: &mut Lookup<'_>,
    progress: &dyn Progress,
) -> Result<TableCheck, VerifyError> {
    let table = &images.table;
    let mut diffs = Vec::new();
    let mut done = 0u64;
    for chunk in keys.chunks(lookup.max_keys()) {
        let values: Vec<Vec<Vec<u8>>> = chunk
            .iter()
            .map(|k| images.images[*k].key_fields(table))
            .collect();
        let rows = lookup.fetch(table, &values)?;
        for key in chunk {
            let outcome = compare::compare(table, &images.images[*key], rows.get(&key[..]));
            if outcome != Outcome::Equal {
                diffs.push(((*key).clone(), outcome));
            }
        }
        done += chunk.len() as u64;
        progress.checked(name, done, keys.len() as u64);
    }
    diffs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(TableCheck {
        table: Arc::clone(table),
        checked: keys.len() as u64,
        diffs,
    })
}

/// The second pass: after a wait, re-read the topic from the first pass's end and check the
/// differing keys again against their (possibly newer) last change.
struct SecondPass<'a> {
    config: &'a Config,
    targets: &'a Targets<'a>,
    after: Duration,
}

impl SecondPass<'_> {
    fn run(
        &self,
        ranges: &[Range],
        state: &mut Expected,
        checks: &mut BTreeMap<String, TableCheck>,
        lookup: &mut Lookup<'_>,
        progress: &dyn Progress,
    ) -> Result<RecheckReport, VerifyError> {
        let keep: HashMap<String, HashSet<Key>> = checks
            .iter()
            .map(|(name, c)| {
                (
                    name.clone(),
                    c.diffs.iter().map(|(k, _)| k.clone()).collect(),
                )
            })
            .collect();
        let keys: usize = keep.values().map(HashSet::len).sum();
        progress.step(&format!(
            "waiting {} s to check {keys} differing key(s) again",
            self.after.as_secs()
        ));
        std::thread::sleep(self.after);
        state.retain(&keep);
        let next = window::continuation(&self.config.source, ranges, KAFKA_TIMEOUT)?;
        progress.step("reading the topic past the first pass");
        let stats = read_window(self.config, self.targets, &next, state, progress)?;
        let mut resolved = 0;
        for (name, check) in checks.iter_mut().filter(|(_, c)| !c.diffs.is_empty()) {
            let images = state.table(name).expect("kept the differing keys");
            let keys: Vec<&Key> = check.diffs.iter().map(|(k, _)| k).collect();
            let again = check_table(name, images, &keys, lookup, progress)?;
            resolved += (check.diffs.len() - again.diffs.len()) as u64;
            check.diffs = again.diffs;
        }
        Ok(RecheckReport {
            after_sec: self.after.as_secs(),
            keys: keys as u64,
            messages: stats.messages,
            resolved,
        })
    }
}

/// Loads the expected images of every differing key, then checks those keys again.
fn repair_all(
    mut repairer: repair::Repairer,
    state: &Expected,
    checks: &BTreeMap<String, TableCheck>,
    lookup: &mut Lookup<'_>,
    progress: &dyn Progress,
) -> Result<HashMap<String, RepairReport>, VerifyError> {
    let mut out = HashMap::new();
    for (name, check) in checks.iter().filter(|(_, c)| !c.diffs.is_empty()) {
        progress.step(&format!("repairing {name}"));
        let images = state.table(name).expect("kept the differing keys");
        let keys: Vec<&Key> = check.diffs.iter().map(|(k, _)| k).collect();
        let loads: Vec<_> = keys.iter().map(|k| &images.images[*k]).collect();
        let labels = repairer.load(&check.table, &loads)?;
        let after = check_table(name, images, &keys, lookup, progress)?;
        let deletes = loads.iter().filter(|i| i.op == ChangeOp::Delete).count() as u64;
        let (missing, extra, differing) = counts(&after.diffs);
        out.insert(
            name.clone(),
            RepairReport {
                upserts: loads.len() as u64 - deletes,
                deletes,
                labels,
                missing,
                extra,
                differing,
            },
        );
    }
    Ok(out)
}

/// (missing, extra, differing).
fn counts(diffs: &[(Key, Outcome)]) -> (u64, u64, u64) {
    let count = |f: fn(&Outcome) -> bool| diffs.iter().filter(|(_, o)| f(o)).count() as u64;
    (
        count(|o| *o == Outcome::Missing),
        count(|o| *o == Outcome::Extra),
        count(|o| matches!(o, Outcome::Differing(_))),
    )
}

fn window_report(
    options: &VerifyOptions,
    ranges: &[Range],
    stats: &ReadStats,
    memory_bytes: u64,
) -> WindowReport {
    let from_beginning = ranges.iter().all(|r| r.from == 0);
    WindowReport {
        from: options.from.to_string(),
        to: options.to.to_string(),
        from_beginning,
        note: (!from_beginning).then(|| {
            "the window does not start at the beginning of the topic: only keys changed in the \
             window were checked"
                .to_string()
        }),
        partitions: ranges
            .iter()
            .map(|r| report::PartitionWindow {
                topic: r.partition.topic.clone(),
                partition: r.partition.partition,
                from: r.from,
                to: r.to,
            })
            .collect(),
        messages: stats.messages,
        rows: stats.rows,
        rejected: stats.rejected,
        first_rejection: stats.first_rejection.clone(),
        memory_bytes,
        recheck: None,
    }
}

fn report(
    state: &Expected,
    checks: BTreeMap<String, TableCheck>,
    mut repairs: HashMap<String, RepairReport>,
    window: WindowReport,
    queries: u64,
) -> Report {
    let tables: Vec<TableReport> = checks
        .into_iter()
        .map(|(name, check)| {
            let (missing, extra, differing) = counts(&check.diffs);
            TableReport {
                samples: samples(&check, state.table(&name)),
                repair: repairs.remove(&name),
                table: name,
                checked: check.checked,
                equal: check.checked - check.diffs.len() as u64,
                missing,
                extra,
                differing,
            }
        })
        .collect();
    Report {
        ok: tables.iter().all(|t| t.remaining() == 0),
        tables,
        window,
        queries,
    }
}

fn samples(check: &TableCheck, images: Option<&TableImages>) -> Vec<Sample> {
    let Some(images) = images else {
        return Vec::new();
    };
    check
        .diffs
        .iter()
        .take(report::SAMPLES_PER_TABLE)
        .map(|(key, outcome)| {
            let key = key_map(&check.table, &images.images[key]);
            match outcome {
                Outcome::Missing | Outcome::Equal => Sample::Missing { key },
                Outcome::Extra => Sample::Extra { key },
                Outcome::Differing(columns) => Sample::Differing {
                    key,
                    columns: columns.clone(),
                },
            }
        })
        .collect()
}

/// The key columns and their values.
fn key_map(table: &TargetTable, image: &Image) -> serde_json::Map<String, serde_json::Value> {
    table
        .key_columns()
        .zip(image.key_fields(table))
        .map(|(c, v)| {
            let text = String::from_utf8_lossy(&v).into_owned();
            (c.name.clone(), serde_json::Value::String(text))
        })
        .collect()
}
