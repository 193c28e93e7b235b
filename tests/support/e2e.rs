//! End-to-end test worlds: a topic, a group and a database of their own per test, the real
//! `starpipe` binary run against the real broker and starrocks-sim, the sim's control API
//! (faults, counters), and checks against the workload generator's independent model.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use rdkafka::consumer::{BaseConsumer, Consumer};
use starpipe_perf::model::ExpectedState;
use starpipe_perf::workload::{Format, Message, Workload};

/// A nullable text column read back from StarRocks.
pub type Text = Option<String>;

/// One test's world: its own database, topic and group.
pub struct World {
    pub name: String,
    pub db: String,
    pub topic: String,
    pub group: String,
    pub dir: PathBuf,
    pub partitions: i32,
    /// The StarRocks it loads into: the shared sim unless [`World::on_sim`] says otherwise.
    pub sim: &'static super::Sim,
}

pub fn world(name: &str, partitions: i32) -> World {
    world_with(name, partitions, &[])
}

/// [`world`] whose topic is created with `topic_configs`.
pub fn world_with(name: &str, partitions: i32, topic_configs: &[(&str, &str)]) -> World {
    let unique = super::unique_name(name).replace(['-', '.'], "_");
    let dir = std::env::temp_dir().join(format!("starpipe-e2e-{unique}"));
    std::fs::create_dir_all(&dir).unwrap();
    let w = World {
        name: name.to_string(),
        db: format!("db_{unique}"),
        topic: super::unique_topic(name),
        group: super::unique_group(name),
        dir,
        partitions,
        sim: super::sim(),
    };
    super::create_topic_with(&w.topic, partitions, topic_configs);
    w
}

pub fn mysql_conn() -> mysql::Conn {
    conn_to(super::sim())
}

/// A query-port connection to `sim`.
pub fn conn_to(sim: &super::Sim) -> mysql::Conn {
    let (host, port) = sim.query.rsplit_once(':').unwrap();
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some(host))
        .tcp_port(port.parse().unwrap())
        .user(Some(sim.user.clone()))
        .pass(Some(sim.password.clone()))
        .prefer_socket(false);
    mysql::Conn::new(opts).expect("connect to starrocks-sim")
}

pub fn execute_sql(script: &str) {
    execute_sql_on(super::sim(), script)
}

/// [`execute_sql`] on `sim`.
pub fn execute_sql_on(sim: &super::Sim, script: &str) {
    let mut conn = conn_to(sim);
    for stmt in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        conn.query_drop(stmt)
            .unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
}

impl World {
    /// This world loading into `sim` (a dedicated sim of the test, leaked to live as long).
    pub fn on_sim(mut self, sim: super::Sim) -> World {
        self.sim = Box::leak(Box::new(sim));
        self
    }

    /// A workload over this world's database and partitions.
    pub fn workload(&self, format: Format, messages: u64, seed: u64) -> Workload {
        let mut w = Workload::new(seed, format)
            .with_tables(&["orders", "order_items", "sbtest"])
            .unwrap();
        w.database = self.db.clone();
        w.messages = messages;
        w.partitions = self.partitions as u32;
        w
    }

    /// A workload's tables created and its messages produced: the usual start of a test.
    pub fn seed(&self, format: Format, messages: u64, seed: u64) -> (Workload, ExpectedState) {
        let workload = self.workload(format, messages, seed);
        let (messages, expected, _) = starpipe_perf::workload::generate(&workload);
        self.create_tables(&workload);
        self.produce(&messages);
        (workload, expected)
    }

    pub fn create_tables(&self, w: &Workload) {
        execute_sql_on(self.sim, &starpipe_perf::schema::ddl(&self.db, &w.tables));
    }

    pub fn produce(&self, messages: &[Message]) {
        self.produce_paced(messages, None);
    }

    /// [`World::produce`] at `rate` messages per second (`None`: as fast as it goes).
    pub fn produce_paced(&self, messages: &[Message], rate: Option<f64>) {
        let stats = starpipe_perf::kafka::produce(
            &super::brokers(),
            &self.topic,
            self.partitions,
            messages,
            rate,
        )
        .unwrap();
        assert_eq!(stats.failed, 0, "produce failures");
    }

    /// Writes a job file; `extra` lines are appended to `[target]`, `top` lines at the top.
    pub fn job(&self, format: Format, top: &str, target_extra: &str) -> PathBuf {
        self.job_at(format, top, target_extra, &self.sim.fe_http)
    }

    /// [`World::job`] with Stream Loads sent to `http_host` (e.g. the sim's BE).
    pub fn job_at(
        &self,
        format: Format,
        top: &str,
        target_extra: &str,
        http_host: &str,
    ) -> PathBuf {
        let mut endpoints = Endpoints::of_sim(self.sim);
        endpoints.http_host = http_host.to_string();
        self.job_with(format, top, target_extra, &endpoints)
    }

    /// [`World::job`] against other endpoints (a secured broker, a TLS sim).
    pub fn job_with(
        &self,
        format: Format,
        top: &str,
        target_extra: &str,
        endpoints: &Endpoints,
    ) -> PathBuf {
        let schema_format = match format {
            Format::Canal => "AlibabaCanal",
            Format::CloudCanal => "CloudCanal",
        };
        let text = format!(
            r#"{top}
[source]
brokers = "{brokers}"
topics = ["{topic}"]
schemaFormat = "{schema_format}"
consumerGroupId = "{group}"
consumeParallel = 2
sessionTimeoutMs = 6000
{kafka}
[target]
host = "{query}"
httpHost = "{http}"
user = "{user}"
password = "{password}"
asyncFlushIntervalSec = 1
{target_extra}
"#,
            brokers = endpoints.brokers,
            // Only when there are properties: a test may write its own `[source.kafka]`.
            kafka = if endpoints.kafka.is_empty() {
                String::new()
            } else {
                format!("\n[source.kafka]\n{}", endpoints.kafka)
            },
            topic = self.topic,
            group = self.group,
            query = endpoints.query,
            http = endpoints.http_host,
            user = endpoints.user,
            password = endpoints.password,
        );
        let path = self.dir.join("job.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn log(&self, run: &str) -> PathBuf {
        self.dir.join(format!("{}-{run}.log", self.name))
    }

    /// Starts `starpipe run`; its log goes to a file (shown when an assertion fails).
    pub fn spawn(&self, job: &Path, run: &str, stop_at_end: bool) -> Running {
        let log = std::fs::File::create(self.log(run)).unwrap();
        let mut cmd = Command::new(starpipe_bin());
        cmd.args(["run", "--config"]).arg(job);
        if stop_at_end {
            cmd.arg("--stop-at-end");
        }
        Running(Some(
            cmd.env("RUST_LOG", "info,starpipe=debug")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start starpipe"),
        ))
    }

    /// Runs `starpipe run --stop-at-end` to completion (bounded).
    pub fn run_to_end(&self, job: &Path, run: &str) -> Output {
        let child = self.spawn(job, run, true);
        let out = wait_bounded(child, Duration::from_secs(180));
        out.unwrap_or_else(|| panic!("starpipe did not stop; log:\n{}", self.log_text(run)))
    }

    pub fn log_text(&self, run: &str) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.log(run)) {
            let _ = f.read_to_string(&mut s);
        }
        let tail: Vec<&str> = s.lines().rev().take(60).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    pub fn assert_state(&self, expected: &ExpectedState) {
        let sim = self.sim;
        let report =
            starpipe_perf::verify::verify(expected, &sim.query, &sim.user, &sim.password).unwrap();
        assert!(
            report.ok(),
            "{}: final state differs:\n{}",
            self.name,
            report.summary()
        );
    }

    /// Committed group offsets, per partition.
    pub fn committed(&self) -> Vec<Option<i64>> {
        committed_offsets(&self.group, &self.topic, self.partitions)
    }

    /// The group's state and live members as the coordinator describes them; `None` when it
    /// does not list the group.
    fn describe_group(
        &self,
        consumer: &BaseConsumer,
    ) -> rdkafka::error::KafkaResult<Option<(String, usize)>> {
        let list = consumer.fetch_group_list(Some(&self.group), Duration::from_secs(10))?;
        let group = list.groups().iter().find(|g| g.name() == self.group);
        Ok(group.map(|g| (g.state().to_string(), g.members().len())))
    }

    /// The group's live members now (0 when it cannot be described).
    pub fn group_members(&self) -> usize {
        let consumer: BaseConsumer = super::consumer_config(&self.group).create().unwrap();
        match self.describe_group(&consumer) {
            Ok(Some((_, members))) => members,
            _ => 0,
        }
    }

    /// Waits (at most `limit`) until the group has no member. A run that stops sends
    /// LeaveGroup, but librdkafka skips it when it is not connected to the coordinator at that
    /// moment; the member then stays until its session times out. Returns the states seen while
    /// waiting (empty when there was no wait), for a failing test to print.
    pub fn wait_group_inactive(&self, limit: Duration) -> Vec<String> {
        let consumer: BaseConsumer = super::consumer_config(&self.group).create().unwrap();
        let start = Instant::now();
        let mut seen = Vec::new();
        loop {
            let state = match self.describe_group(&consumer) {
                Ok(None) => return seen,
                Ok(Some((state, 0))) if state == "Empty" || state == "Dead" => return seen,
                Ok(Some((state, members))) => format!("{state} with {members} member(s)"),
                Err(e) => format!("not described: {e}"),
            };
            assert!(
                start.elapsed() < limit,
                "{}: group still not inactive after {limit:?}: {seen:?}",
                self.name
            );
            seen.push(state);
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn end_offsets(&self) -> Vec<i64> {
        let consumer: BaseConsumer = super::consumer_config(&self.group).create().unwrap();
        let ends = (0..self.partitions)
            .map(|p| {
                consumer
                    .fetch_watermarks(&self.topic, p, Duration::from_secs(10))
                    .unwrap()
                    .1
            })
            .collect();
        drop(consumer);
        ends
    }

    /// Waits (at most `limit`) until the group committed every partition to its end offset;
    /// the log of `run` says why not.
    pub fn wait_all_committed(&self, run: &str, limit: Duration) {
        let ends = self.end_offsets();
        let start = Instant::now();
        while self
            .committed()
            .iter()
            .zip(&ends)
            .any(|(c, e)| *c != Some(*e))
        {
            assert!(
                start.elapsed() < limit,
                "{}: not everything committed: {:?} of {ends:?}\n{}",
                self.name,
                self.committed(),
                self.log_text(run)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn assert_all_committed(&self) {
        let ends = self.end_offsets();
        let committed = self.committed();
        for (p, end) in ends.iter().enumerate() {
            if *end > 0 {
                assert_eq!(
                    committed[p],
                    Some(*end),
                    "{}: partition {p} not committed to its end",
                    self.name
                );
            }
        }
    }
}

/// Where a job finds its systems: the brokers (with `[source.kafka]` lines) and StarRocks.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub brokers: String,
    /// The body of `[source.kafka]` (TOML lines; empty for none).
    pub kafka: String,
    pub query: String,
    pub http_host: String,
    pub user: String,
    pub password: String,
}

impl Endpoints {
    /// The test process's broker and sim.
    pub fn shared() -> Endpoints {
        Endpoints::of_sim(super::sim())
    }

    /// The test process's broker and `sim` (its FE, plain HTTP).
    pub fn of_sim(sim: &super::Sim) -> Endpoints {
        Endpoints {
            brokers: super::brokers(),
            kafka: String::new(),
            query: sim.query.clone(),
            http_host: sim.fe_http.clone(),
            user: sim.user.clone(),
            password: sim.password.clone(),
        }
    }
}

/// The binary under test: this build's, or `STARPIPE_TEST_BIN` (e.g. an older build, to watch a
/// test fail on the code before a fix).
pub fn starpipe_bin() -> PathBuf {
    std::env::var_os("STARPIPE_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_starpipe")))
}

/// A running `starpipe`, killed if the test ends (or panics) before it exits.
pub struct Running(pub Option<Child>);

impl Running {
    pub fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    pub fn try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        match self.0.as_mut() {
            Some(c) => c.try_wait(),
            None => Ok(None),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take()
            && c.try_wait().ok().flatten().is_none()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn wait_bounded(mut running: Running, limit: Duration) -> Option<Output> {
    let mut child = running.0.take().expect("a running process");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(Output {
                status,
                stdout: Vec::new(),
                stderr: Vec::new(),
            });
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn add_fault(rule: serde_json::Value) -> u64 {
    super::sim()
        .add_fault(&rule)
        .unwrap_or_else(|e| panic!("fault not accepted: {e}"))
}

/// `fired` of every fault rule, by id.
pub fn fired_counts() -> std::collections::HashMap<u64, u64> {
    super::sim().fired_counts().unwrap()
}

pub fn remove_fault(id: u64) {
    let _ = super::sim().remove_fault(id);
}

/// The sim's counters (`GET /counters`).
pub fn sim_counters() -> serde_json::Value {
    super::sim().counters().unwrap()
}

/// Counts rows loaded into tables of `db` according to the sim's counters.
pub fn rows_loaded(db: &str) -> u64 {
    let v = sim_counters();
    v["tables"]
        .as_object()
        .map(|t| {
            t.iter()
                .filter(|(name, _)| name.starts_with(&format!("{db}.")))
                .map(|(_, c)| c["rows_loaded"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

pub fn wait_for_rows(db: &str, at_least: u64, limit: Duration) {
    let start = Instant::now();
    while rows_loaded(db) < at_least {
        assert!(start.elapsed() < limit, "no progress loading into {db}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn signal(child: &Running, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// A group's committed offsets for partitions `0..partitions` of `topic`.
pub fn committed_offsets(group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    starpipe_perf::kafka::committed_offsets(&super::consumer_config(group), topic, partitions)
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// `op`, again while a fresh broker's group coordinator is not ready.
pub fn retry_coordinator<T>(op: impl FnMut() -> rdkafka::error::KafkaResult<T>) -> T {
    starpipe_perf::kafka::retry_coordinator(op).unwrap_or_else(|e| panic!("{e}"))
}

/// What a finished `starpipe` command printed, and how long it took.
pub struct Ran {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Ran {
    /// Both streams, for assertion messages.
    pub fn both(&self) -> String {
        format!(
            "status {} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.took, self.stdout, self.stderr
        )
    }

    /// The report line of check `what` (`ok   <what>: …` / `FAIL <what>: …`).
    pub fn check_line(&self, what: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.get(5..).is_some_and(|rest| rest.starts_with(what)))
            .unwrap_or_else(|| panic!("no line for `{what}`:\n{}", self.both()))
    }
}

/// Runs `starpipe ARGS` to its end; kills it and fails the test after `limit`.
pub fn run_starpipe(args: &[&str], limit: Duration) -> Ran {
    let dir = std::env::temp_dir().join(super::unique_name("starpipe-out"));
    std::fs::create_dir_all(&dir).unwrap();
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let started = Instant::now();
    let child = Command::new(starpipe_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("start starpipe");
    let status = wait_bounded(Running(Some(child)), limit).map(|o| o.status);
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    let Some(status) = status else {
        panic!("starpipe {args:?} still running after {limit:?}; stderr:\n{stderr}");
    };
    let ran = Ran {
        status,
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr,
        took: started.elapsed(),
    };
    let _ = std::fs::remove_dir_all(&dir);
    ran
}
