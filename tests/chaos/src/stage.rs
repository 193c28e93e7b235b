//! One scenario's world: a fresh topic, group and target database; a producer thread that
//! records every message in the [`History`] before producing it; the `starpipe run` instances;
//! and the checks (committed offsets read from outside the group, then the tables read back
//! and compared with what those offsets allow).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::ClientConfig;
use rdkafka::consumer::BaseConsumer;
use serde::Serialize;
use starpipe_perf::kafka::{ProduceStats, committed_with};
use starpipe_perf::{ExpectedTable, Format, Generator, Partitioning, Workload};

use crate::Env;
use crate::history::{Checked, History};

/// Memory budget of every instance (`totalDataInMemMb`); the soak holds RSS to this + 100 MB.
pub const BUDGET_MB: u64 = 64;

/// Partitions of every scenario's topic: more than one instance's threads, so that two
/// instances both own some.
pub const PARTITIONS: i32 = 4;

/// Source database named in the messages.
const SOURCE_DB: &str = "chaos_src";

/// What a scenario reports besides pass/fail.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Tally {
    pub messages: u64,
    pub source_rows: u64,
    pub checks: u64,
    pub rows_checked: u64,
    pub differences: u64,
    pub examples: Vec<String>,
    pub kills: u64,
    /// Instances started (first starts and restarts).
    pub starts: u64,
    /// `partition assigned` log lines over every instance's log: partitions taken over.
    pub assignments: u64,
    /// Instances that exited with status 3 on their own (a revocation that could not load in
    /// time: a fenced exit the README documents).
    pub fenced_exits: u64,
    pub max_rss_mb: f64,
    /// Successful Stream Loads into the scenario's database (the sim's counters).
    pub loads: u64,
    /// Failed load attempts starpipe sent again (`starpipe_loads_total{result="retry"}` of
    /// instances stopped gracefully; a killed instance's count dies with it).
    pub retries: u64,
}

/// A `starpipe run` process.
pub struct Instance {
    pub name: String,
    child: Child,
    log: PathBuf,
    admin: String,
}

impl Instance {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `VmRSS` in MB, if the process is still there.
    pub fn rss_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let kb: f64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }

    /// The sum of `starpipe_loads_total{…result="retry"}` from the admin endpoint.
    pub fn retries(&self) -> anyhow::Result<u64> {
        let mut resp = ureq::get(&format!("http://{}/metrics", self.admin)).call()?;
        let text = resp.body_mut().read_to_string()?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with("starpipe_loads_total{") && l.contains("result=\"retry\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64)
    }

    fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child, which is not reaped before `wait`.
        unsafe { libc::kill(self.pid() as libc::pid_t, sig) };
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

/// The producer thread: generates, records in the history, produces.
struct Producer {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(Generator, anyhow::Result<ProduceStats>)>,
}

pub struct Stage<'e> {
    pub env: &'e Env,
    pub name: String,
    topic: String,
    group: String,
    pub db: String,
    dir: PathBuf,
    history: Arc<Mutex<History>>,
    layouts: Vec<ExpectedTable>,
    generator: Option<Generator>,
    producer: Option<Producer>,
    consumer: BaseConsumer,
    conn: Option<mysql::Conn>,
    pub instances: Vec<Instance>,
    /// Every log an instance of this stage wrote.
    logs: Vec<PathBuf>,
    /// Check RSS against [`BUDGET_MB`] + 100.
    pub rss_bound: bool,
    /// An instance may exit with status 3 on its own: a revocation it could not load within
    /// the session timeout (README "Several instances of one job"), so it stops rather than
    /// load late. Only where instances come and go.
    pub fenced_ok: bool,
    pub tally: Tally,
    /// When [`Stage::pause`] last looked at the instances.
    next_sample: Instant,
}

/// How long a drain waits for the group to commit everything produced.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

impl<'e> Stage<'e> {
    pub fn new(env: &'e Env, name: &str, seed: u64) -> anyhow::Result<Stage<'e>> {
        let tag = format!("{name}_{}_{seed}", std::process::id());
        let topic = format!("chaos-{tag}");
        let group = format!("chaos-{tag}");
        let db = format!("chaos_{}", name.replace('-', "_"));
        let dir = env.work.join(name);
        std::fs::create_dir_all(&dir)?;
        let mut w = Workload::new(seed, Format::Canal);
        w.database = SOURCE_DB.into();
        w.partitions = PARTITIONS as u32;
        w.partitioning = Partitioning::Table;
        w.min_rows = 1;
        w.max_rows = 10;
        // Bounded tables: reading them back at every check stays cheap, and so does the sim.
        w.max_live_rows = Some(1500);
        w.messages = u64::MAX;
        let history = History::new(&w.tables, PARTITIONS as usize);
        let layouts = history.layouts().to_vec();
        starpipe_perf::kafka::create_topic(&env.broker.bootstrap, &topic, PARTITIONS)?;
        let sql = format!(
            "DROP DATABASE IF EXISTS {db};\n{}",
            starpipe_perf::ddl(&db, &w.tables)
        );
        starpipe_perf::verify::execute_statements(&env.sim.query, "root", "", &sql)?;
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &env.broker.bootstrap)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .create()
            .context("creating the offset reader")?;
        Ok(Stage {
            env,
            name: name.to_string(),
            topic,
            group,
            db,
            dir,
            history: Arc::new(Mutex::new(history)),
            layouts,
            generator: Some(w.generator()),
            producer: None,
            consumer,
            conn: None,
            instances: Vec::new(),
            logs: Vec::new(),
            rss_bound: false,
            fenced_ok: false,
            tally: Tally::default(),
            next_sample: Instant::now(),
        })
    }

    // ---------------------------------------------------------------------------------------
    // Production
    // ---------------------------------------------------------------------------------------

    /// Starts producing at `rate` messages/s (unlimited: `None`), at most `limit` messages.
    pub fn produce(&mut self, rate: Option<f64>, limit: Option<u64>) {
        assert!(self.producer.is_none(), "one producer at a time");
        let mut generator = self.generator.take().expect("the generator is home");
        let stop = Arc::new(AtomicBool::new(false));
        let history = Arc::clone(&self.history);
        let (brokers, topic) = (self.env.broker.bootstrap.clone(), self.topic.clone());
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut sent = 0u64;
            let messages = std::iter::from_fn(|| {
                if flag.load(Ordering::Relaxed) || limit.is_some_and(|l| sent >= l) {
                    return None;
                }
                sent += 1;
                let (m, changes) = generator.next_with_changes();
                // Recorded before it is handed to the producer: a check may then allow rows
                // not yet produced (harmless), never miss a produced one.
                history
                    .lock()
                    .unwrap()
                    .record(m.partition as usize, changes);
                Some(m)
            });
            let stats = starpipe_perf::kafka::produce(&brokers, &topic, PARTITIONS, messages, rate);
            (generator, stats)
        });
        self.producer = Some(Producer { stop, handle });
    }

    /// Stops the producer (if any), waits for every message to be acknowledged, and checks
    /// that the topic holds exactly what the history recorded.
    pub fn stop_producing(&mut self) -> anyhow::Result<()> {
        let Some(p) = self.producer.take() else {
            return Ok(());
        };
        p.stop.store(true, Ordering::Relaxed);
        let (generator, stats) = p.handle.join().expect("the producer thread panicked");
        self.tally.messages = generator.stats().messages;
        self.tally.source_rows = generator.stats().inserted_rows
            + generator.stats().updated_rows
            + generator.stats().deleted_rows;
        self.generator = Some(generator);
        let stats = stats?;
        if stats.failed > 0 || stats.delivered != stats.messages {
            bail!(
                "the producer lost messages: {} sent, {} delivered, {} failed ({:?})",
                stats.messages,
                stats.delivered,
                stats.failed,
                stats.first_error
            );
        }
        // The history's offsets are positions in the partitions: they must be the topic's.
        let ends = self.history.lock().unwrap().ends();
        let marks = starpipe_perf::kafka::watermarks(&self.consumer, &self.topic, PARTITIONS)?;
        let highs: Vec<i64> = marks.iter().map(|(_, h)| *h).collect();
        if highs != ends {
            bail!("the topic's end offsets {highs:?} are not the {ends:?} messages recorded");
        }
        Ok(())
    }

    /// Whether the producer is done with a `limit`.
    pub fn producer_finished(&self) -> bool {
        self.producer
            .as_ref()
            .is_none_or(|p| p.handle.is_finished())
    }

    // ---------------------------------------------------------------------------------------
    // Instances
    // ---------------------------------------------------------------------------------------

    fn job(&self, name: &str, admin: &str) -> anyhow::Result<PathBuf> {
        let sim = &self.env.sim;
        let text = format!(
            r#"[source]
brokers = "{brokers}"
topics = ["{topic}"]
schemaFormat = "AlibabaCanal"
consumerGroupId = "{group}"
consumeParallel = 2
sessionTimeoutMs = 6000

[target]
host = "{query}"
httpHost = "{fe}"
user = "root"
password = ""
totalDataInMemMb = {BUDGET_MB}
flushBatchMb = 8
asyncFlushIntervalSec = 1
labelWaitSec = 10

[admin]
listen = "{admin}"

[[tables]]
source = "{SOURCE_DB}.*"
target = "{db}.*"
"#,
            brokers = self.env.broker.bootstrap,
            topic = self.topic,
            group = self.group,
            query = sim.query,
            fe = sim.fe_http,
            db = self.db,
        );
        let path = self.dir.join(format!("{name}.toml"));
        std::fs::write(&path, text)?;
        Ok(path)
    }

    /// Starts an instance `name` (a restart when one of that name ran before; its log goes on).
    pub fn start(&mut self, name: &str) -> anyhow::Result<()> {
        let [port] = starrocks_sim::launch::free_ports::<1>()?;
        let admin = format!("127.0.0.1:{port}");
        let job = self.job(name, &admin)?;
        let log = self.dir.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let child = Command::new(&self.env.starpipe)
            .args(["run", "--config"])
            .arg(&job)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .spawn()
            .with_context(|| format!("starting {}", self.env.starpipe.display()))?;
        if !self.logs.contains(&log) {
            self.logs.push(log.clone());
        }
        self.instances.push(Instance {
            name: name.to_string(),
            child,
            log,
            admin,
        });
        self.tally.starts += 1;
        Ok(())
    }

    fn take(&mut self, name: &str) -> anyhow::Result<Instance> {
        let i = self
            .instances
            .iter()
            .position(|i| i.name == name)
            .with_context(|| format!("no running instance {name}"))?;
        Ok(self.instances.remove(i))
    }

    pub fn running(&self) -> Vec<String> {
        self.instances.iter().map(|i| i.name.clone()).collect()
    }

    /// `kill -9` of instance `name`.
    pub fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        let mut i = self.take(name)?;
        i.signal(libc::SIGKILL);
        i.child.wait()?;
        self.tally.kills += 1;
        Ok(())
    }

    /// SIGTERM, then waits for exit 0 (a graceful stop loads and commits what it read).
    pub fn stop(&mut self, name: &str) -> anyhow::Result<()> {
        let mut i = self.take(name)?;
        match i.retries() {
            Ok(n) => self.tally.retries += n,
            Err(e) => eprintln!("chaos: {}: no metrics from {name}: {e}", self.name),
        }
        i.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(status) = i.child.try_wait()? {
                if status.success() {
                    return Ok(());
                }
                if self.fenced_ok && status.code() == Some(3) {
                    self.tally.fenced_exits += 1;
                    return Ok(());
                }
                bail!(
                    "instance {name} stopped with {status}; its log ends:\n{}",
                    i.tail()
                );
            }
            if Instant::now() > deadline {
                i.signal(libc::SIGKILL);
                i.child.wait()?;
                bail!("instance {name} did not stop within 90 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops every instance gracefully.
    pub fn stop_all(&mut self) -> anyhow::Result<()> {
        for name in self.running() {
            self.stop(&name)?;
        }
        Ok(())
    }

    /// Sleeps `d`, watching the instances: samples their RSS, and fails if one exited (exit 3,
    /// a fenced revocation, is allowed with `fenced_ok`: the instance is then gone).
    pub fn pause(&mut self, d: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + d;
        loop {
            self.watch()?;
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            std::thread::sleep((until - now).min(Duration::from_millis(250)));
        }
    }

    fn watch(&mut self) -> anyhow::Result<()> {
        if Instant::now() < self.next_sample {
            return Ok(());
        }
        self.next_sample = Instant::now() + Duration::from_millis(250);
        let mut gone = None;
        for (n, i) in self.instances.iter_mut().enumerate() {
            if let Some(status) = i.child.try_wait()? {
                if self.fenced_ok && status.code() == Some(3) {
                    gone = Some(n);
                    continue;
                }
                bail!(
                    "instance {} exited on its own with {status}; its log ends:\n{}",
                    i.name,
                    i.tail()
                );
            }
            if let Some(rss) = i.rss_mb() {
                self.tally.max_rss_mb = self.tally.max_rss_mb.max(rss);
                if self.rss_bound && rss > (BUDGET_MB + 100) as f64 {
                    bail!(
                        "instance {} RSS {rss:.1} MB is above totalDataInMemMb {BUDGET_MB} + 100 MB",
                        i.name
                    );
                }
            }
        }
        if let Some(n) = gone {
            let i = self.instances.remove(n);
            eprintln!(
                "chaos: {}: instance {} exited with 3 (fenced)",
                self.name, i.name
            );
            self.tally.fenced_exits += 1;
        }
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // Checks
    // ---------------------------------------------------------------------------------------

    /// The group's committed offsets (none yet: 0).
    pub fn committed(&self) -> anyhow::Result<Vec<i64>> {
        Ok(committed_with(&self.consumer, &self.topic, PARTITIONS)?
            .into_iter()
            .map(|o| o.unwrap_or(0))
            .collect())
    }

    fn read_tables(&mut self) -> anyhow::Result<Vec<Vec<crate::history::Image>>> {
        let conn = match &mut self.conn {
            Some(c) => c,
            None => self.conn.insert(starpipe_perf::verify::connect(
                &self.env.sim.query,
                "root",
                "",
            )?),
        };
        let mut out = Vec::new();
        for t in &self.layouts {
            match starpipe_perf::verify::read_table(conn, &self.db, t) {
                Ok(rows) => out.push(rows),
                Err(e) => {
                    self.conn = None;
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// Reads the committed offsets, then the tables, and checks them against the history:
    /// every row a commit covers is there (or replaced by a later write), nothing else is.
    pub fn check(&mut self, when: &str) -> anyhow::Result<Checked> {
        let committed = self.committed()?;
        // Reading again is sound (loads only move rows forward from the committed prefix), and
        // needed: the soak's MySQL fault drops the checker's connections too.
        let mut attempt = 0;
        let actual = loop {
            match self.read_tables() {
                Ok(rows) => break rows,
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    eprintln!("chaos: {}: reading the tables: {e:#}; again", self.name);
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        };
        let checked = self.history.lock().unwrap().check(&committed, &actual);
        self.tally.checks += 1;
        self.tally.rows_checked += checked.rows;
        self.tally.differences += checked.differences;
        for e in &checked.examples {
            if self.tally.examples.len() < 20 {
                self.tally.examples.push(format!("{when}: {e}"));
            }
        }
        Ok(checked)
    }

    /// Waits until the group commits past `since` (the sum of the offsets grows): a restarted
    /// instance has joined and loads again, so the next fault hits a running pipeline rather
    /// than one still starting.
    pub fn wait_progress(&mut self, since: &[i64]) -> anyhow::Result<()> {
        let started = Instant::now();
        let before: i64 = since.iter().sum();
        while self.committed()?.iter().sum::<i64>() <= before {
            if started.elapsed() > DRAIN_TIMEOUT {
                bail!("no commit past {since:?} within {DRAIN_TIMEOUT:?}");
            }
            self.pause(Duration::from_millis(250))?;
        }
        Ok(())
    }

    /// Waits until the group committed every message produced (the producer must be stopped).
    pub fn drain(&mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let ends = self.history.lock().unwrap().ends();
        loop {
            if self.committed()? == ends {
                return Ok(started.elapsed());
            }
            if started.elapsed() > DRAIN_TIMEOUT {
                bail!(
                    "the group did not commit the {ends:?} messages within {DRAIN_TIMEOUT:?}: \
                     committed {:?}",
                    self.committed()?
                );
            }
            self.pause(Duration::from_millis(500))?;
        }
    }

    /// The end of every scenario: production stopped, everything committed, the instances
    /// stopped gracefully, the tables compared with the model of the whole stream.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        self.stop_producing()?;
        if self.instances.is_empty() {
            self.start("final")?;
        }
        self.drain()?;
        self.stop_all()?;
        self.check("final")?;
        self.count_loads()?;
        self.tally.assignments = self
            .logs
            .iter()
            .map(|l| {
                std::fs::read_to_string(l)
                    .unwrap_or_default()
                    .matches("partition assigned")
                    .count() as u64
            })
            .sum();
        Ok(())
    }

    fn count_loads(&mut self) -> anyhow::Result<()> {
        let counters = self.env.sim.counters()?;
        let prefix = format!("{}.", self.db);
        self.tally.loads = counters["tables"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(t, _)| t.starts_with(&prefix))
            .filter_map(|(_, v)| v["loads"].as_u64())
            .sum();
        Ok(())
    }

    /// Frees the sim's memory for the next scenario.
    pub fn drop_database(&self) -> anyhow::Result<()> {
        starpipe_perf::verify::execute_statements(
            &self.env.sim.query,
            "root",
            "",
            &format!("DROP DATABASE IF EXISTS {}", self.db),
        )
    }
}

impl Drop for Stage<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.producer.take() {
            p.stop.store(true, Ordering::Relaxed);
            let _ = p.handle.join();
        }
        for i in &mut self.instances {
            i.signal(libc::SIGKILL);
            let _ = i.child.wait();
        }
    }
}
