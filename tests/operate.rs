//! The operator's commands end to end — `starpipe check`, `starpipe position show`,
//! `starpipe position reset`, and the checks `starpipe run` makes at start — against a real
//! Kafka broker and starrocks-sim, through the real binary. Every run is bounded in time.

mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::Value;
use support::e2e;

/// Longest any command may take: the Kafka checks wait 10 s for a broker that is down.
const LIMIT: Duration = Duration::from_secs(60);

/// What a finished `starpipe` run printed.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// The report line of check `what`.
    fn check(&self, what: &str) -> &str {
        self.lines()
            .into_iter()
            .find(|l| l.get(5..).is_some_and(|rest| rest.starts_with(what)))
            .unwrap_or_else(|| panic!("no line for `{what}`:\n{}", self.both()))
    }

    fn both(&self) -> String {
        format!(
            "status {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `starpipe ARGS` to its end, killing it (and failing) after [`LIMIT`].
fn starpipe(args: &[&str]) -> Ran {
    let dir = std::env::temp_dir().join(support::unique_name("starpipe-operate-out"));
    std::fs::create_dir_all(&dir).unwrap();
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_starpipe"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("start starpipe");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "starpipe {args:?} still running after {LIMIT:?}; stderr:\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let ran = Ran {
        status,
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
    };
    let _ = std::fs::remove_dir_all(&dir);
    ran
}

/// A loopback port nothing listens on.
fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    addr
}

/// One test's job: its topic, group, database, and the settings its job file gets.
struct Job {
    topic: String,
    group: String,
    db: String,
    brokers: String,
    host: String,
    http_host: String,
    password: String,
    tables: String,
    dir: PathBuf,
}

impl Job {
    /// A job on a fresh topic with `partitions` partitions, the shared sim and broker, and a
    /// Primary Key table `<db>.orders` mapped from `shop.orders`.
    fn new(name: &str, partitions: i32) -> Job {
        let sim = support::sim();
        let topic = support::unique_topic(name);
        support::create_topic(&topic, partitions);
        let db = format!("db_{}", support::unique_name(name).replace(['-', '.'], "_"));
        e2e::execute_sql(&format!(
            "CREATE DATABASE {db}; CREATE TABLE {db}.orders (id INT NOT NULL, v VARCHAR(20)) \
             PRIMARY KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1"
        ));
        let dir = std::env::temp_dir().join(support::unique_name("starpipe-operate"));
        std::fs::create_dir_all(&dir).unwrap();
        Job {
            group: support::unique_group(name),
            tables: format!("[[tables]]\nsource = \"shop.orders\"\ntarget = \"{db}.orders\"\n"),
            topic,
            db,
            brokers: support::brokers(),
            host: sim.query.clone(),
            http_host: sim.fe_http.clone(),
            password: sim.password.clone(),
            dir,
        }
    }

    /// Writes the job file and returns its path.
    fn file(&self) -> String {
        let sim = support::sim();
        let text = format!(
            "[source]\nbrokers = \"{}\"\ntopics = [\"{}\"]\nconsumerGroupId = \"{}\"\n\
             sessionTimeoutMs = 6000\n\
             [target]\nhost = \"{}\"\nhttpHost = \"{}\"\nuser = \"{}\"\npassword = \"{}\"\n\
             soTimeoutSec = 5\n{}",
            self.brokers,
            self.topic,
            self.group,
            self.host,
            self.http_host,
            sim.user,
            self.password,
            self.tables
        );
        let path = self.dir.join("job.toml");
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn check(&self) -> Ran {
        let file = self.file();
        let started = Instant::now();
        let ran = starpipe(&["check", "--config", &file]);
        eprintln!("check took {:.1?}:\n{}", started.elapsed(), ran.stdout);
        ran
    }

    fn show_json(&self) -> Value {
        let file = self.file();
        let ran = starpipe(&["position", "show", "--config", &file, "--json"]);
        assert!(ran.status.success(), "{}", ran.both());
        serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.both()))
    }

    fn reset(&self, extra: &[&str]) -> Ran {
        let file = self.file();
        let mut args = vec!["position", "reset", "--config", &file];
        args.extend_from_slice(extra);
        starpipe(&args)
    }

    /// Produces `n` messages to each partition, message `i` with timestamp `base + i s`.
    fn produce(&self, partitions: i32, n: i64, base: i64) {
        let records: Vec<support::TestRecord> = (0..partitions)
            .flat_map(|p| {
                (0..n).map(move |i| support::TestRecord {
                    partition: Some(p),
                    timestamp: Some(base + i * 1000),
                    ..support::TestRecord::new(format!("m{i}"))
                })
            })
            .collect();
        support::produce_batch(&self.topic, &records);
    }

    /// Commits `offsets[p]` for partition `p` with a plain consumer of the group.
    fn commit(&self, offsets: &[i64]) {
        let consumer: BaseConsumer = support::consumer_config(&self.group).create().unwrap();
        {
            let mut tpl = TopicPartitionList::new();
            for (p, o) in offsets.iter().enumerate() {
                tpl.add_partition_offset(&self.topic, p as i32, Offset::Offset(*o))
                    .unwrap();
            }
            e2e::retry_coordinator(|| consumer.commit(&tpl, CommitMode::Sync));
        }
        drop(consumer);
    }

    /// The group's committed offsets per partition.
    fn committed(&self, partitions: i32) -> Vec<Option<i64>> {
        e2e::committed_offsets(&self.group, &self.topic, partitions)
    }
}

fn assert_failed_with(ran: &Ran, what: &str, error: &str) {
    assert_eq!(ran.status.code(), Some(1), "{}", ran.both());
    let line = ran.check(what);
    assert!(
        line.starts_with("FAIL ") && line.contains(error),
        "expected `FAIL {what}: …{error}…`, got `{line}`"
    );
}

// ---------------------------------------------------------------------------------------------
// starpipe check

#[test]
fn check_passes_against_working_systems() {
    let job = Job::new("check-ok", 2);
    let ran = job.check();
    assert!(ran.status.success(), "{}", ran.both());
    for line in ran.lines() {
        assert!(line.starts_with("ok   "), "not ok: {line}");
    }
    let (db, topic) = (&job.db, &job.topic);
    assert!(ran.check("kafka brokers ").contains("1 broker(s) answered"));
    assert!(
        ran.check(&format!("kafka topic {topic}:"))
            .ends_with(": 2 partition(s)")
    );
    assert!(
        ran.check(&format!("kafka group {}", job.group))
            .contains("no offsets")
    );
    assert!(
        ran.check("starrocks query port ")
            .contains("StarRocks 3.3.0")
    );
    assert!(
        ran.check(&format!("starrocks table {db}.orders"))
            .ends_with("Primary Key table")
    );
    assert!(
        ran.check(&format!("starrocks privileges on {db}.orders"))
            .contains("SELECT, INSERT")
    );
    assert!(ran.check("starrocks stream load ").contains("→"));
}

#[test]
fn check_fails_for_an_unreachable_broker() {
    let mut job = Job::new("check-broker", 1);
    job.brokers = closed_port();
    let started = Instant::now();
    let ran = job.check();
    assert!(started.elapsed() < Duration::from_secs(30), "took too long");
    assert_failed_with(
        &ran,
        &format!("kafka brokers {}", job.brokers),
        "cannot read metadata",
    );
    assert!(ran.check("starrocks query port").starts_with("ok"));
}

#[test]
fn check_fails_for_an_unreachable_query_port() {
    let mut job = Job::new("check-query", 1);
    job.host = closed_port();
    let ran = job.check();
    assert_failed_with(
        &ran,
        &format!("starrocks query port {}", job.host),
        "cannot connect as root",
    );
    assert!(ran.check("kafka brokers").starts_with("ok"));
    assert!(ran.check("starrocks stream load").starts_with("ok"));
}

#[test]
fn check_fails_for_a_wrong_password() {
    let mut job = Job::new("check-password", 1);
    job.password = "wrong".into();
    let ran = job.check();
    // StarRocks answers `ERROR 1045 (28000): Access denied for user …`; the sim uses 1698.
    assert_failed_with(
        &ran,
        "starrocks query port",
        "authentication failed: user root",
    );
    assert_failed_with(
        &ran,
        "starrocks stream load",
        "authentication failed: Access denied",
    );
}

#[test]
fn check_fails_for_an_unreachable_http_host() {
    let mut job = Job::new("check-http", 1);
    job.http_host = closed_port();
    let ran = job.check();
    assert_failed_with(
        &ran,
        &format!("starrocks stream load {}", job.http_host),
        "cannot reach http://",
    );
    assert!(ran.check("starrocks query port").starts_with("ok"));
}

#[test]
fn check_fails_for_a_missing_target_table() {
    let mut job = Job::new("check-table", 1);
    job.tables = format!(
        "[[tables]]\nsource = \"shop.orders\"\ntarget = \"{}.missing\"\n",
        job.db
    );
    let ran = job.check();
    assert_failed_with(
        &ran,
        &format!("starrocks table {}.missing", job.db),
        "does not exist",
    );
}

/// `run` makes the same checks at start: a StarRocks it cannot load into stops it at once,
/// listing what failed.
#[test]
fn run_stops_at_start_when_starrocks_is_unusable() {
    let mut job = Job::new("run-check", 1);
    job.http_host = closed_port();
    let file = job.file();
    let ran = starpipe(&["run", "--config", &file, "--stop-at-end"]);
    assert!(!ran.status.success(), "{}", ran.both());
    assert!(
        ran.stderr.contains("StarRocks is not usable")
            && ran
                .stderr
                .contains(&format!("FAIL starrocks stream load {}", job.http_host)),
        "{}",
        ran.both()
    );
}

/// A broker that is down at start is reported, but `run` keeps going and waits for Kafka, as it
/// always did; it still stops on SIGTERM.
#[test]
fn run_reports_a_broker_that_is_down_and_waits_for_it() {
    let mut job = Job::new("run-no-broker", 1);
    job.brokers = closed_port();
    let file = job.file();
    let log = job.dir.join("run.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_starpipe"))
        .args(["run", "--config", &file])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start starpipe");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let started = Instant::now();
    while !read_log().contains("starpipe started") {
        let exited = child.try_wait().unwrap();
        if exited.is_some() || started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("run did not start ({exited:?}):\n{}", read_log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = read_log();
    assert!(
        text.contains(&format!("FAIL kafka brokers {}", job.brokers)),
        "{text}"
    );
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let stopping = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if stopping.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("run did not stop on SIGTERM:\n{}", read_log());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}:\n{}", read_log());
}

// ---------------------------------------------------------------------------------------------
// starpipe position

const BASE_MS: i64 = 1_717_200_000_000; // 2024-06-01T00:00:00Z

fn partition_json(doc: &Value, p: i64) -> &Value {
    doc["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["partition"] == p)
        .unwrap_or_else(|| panic!("no partition {p} in {doc}"))
}

#[test]
fn position_show_on_a_fresh_group() {
    let job = Job::new("show-fresh", 2);
    job.produce(2, 5, BASE_MS);
    let doc = job.show_json();
    assert_eq!(doc["group"], job.group.as_str());
    assert_eq!(doc["members"], serde_json::json!([]));
    for p in 0..2 {
        let x = partition_json(&doc, p);
        assert_eq!(x["topic"], job.topic.as_str());
        assert_eq!(
            (&x["committed"], &x["committedTimestamp"], &x["lag"]),
            (&Value::Null, &Value::Null, &Value::Null)
        );
        assert_eq!((&x["logStart"], &x["end"]), (&0.into(), &5.into()));
    }
    let file = job.file();
    let ran = starpipe(&["position", "show", "--config", &file]);
    assert!(ran.status.success(), "{}", ran.both());
    let rows: Vec<&str> = ran
        .lines()
        .into_iter()
        .filter(|l| l.starts_with(&job.topic))
        .collect();
    assert_eq!(rows.len(), 2, "{}", ran.stdout);
    assert!(
        rows.iter().all(|r| r.contains("no commit")),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.starts_with("TOPIC"), "{}", ran.stdout);
}

#[test]
fn position_show_on_a_committed_group() {
    let job = Job::new("show-committed", 2);
    job.produce(2, 5, BASE_MS);
    job.commit(&[3, 5]);
    let doc = job.show_json();
    let p0 = partition_json(&doc, 0);
    assert_eq!(p0["committed"], 3);
    assert_eq!(p0["committedTimestamp"], "2024-06-01T00:00:03Z");
    assert_eq!(p0["lag"], 2);
    let p1 = partition_json(&doc, 1);
    assert_eq!(p1["committed"], 5);
    assert_eq!(
        p1["committedTimestamp"],
        Value::Null,
        "at the end: no message"
    );
    assert_eq!(p1["lag"], 0);
    assert_eq!(doc["state"], "Empty");
    let file = job.file();
    let ran = starpipe(&["position", "show", "--config", &file]);
    assert!(
        ran.stdout.contains("2024-06-01T00:00:03Z"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("at end"), "{}", ran.stdout);
}

#[test]
fn position_reset_to_a_timestamp_commits_the_first_offset_at_or_after_it() {
    let job = Job::new("reset-time", 2);
    job.produce(2, 10, BASE_MS);
    job.commit(&[9, 1]);
    // 4.5 s after the first message: offset 5 in both partitions.
    let ran = job.reset(&["--to-timestamp", "2024-06-01T00:00:04.500Z", "--yes"]);
    assert!(ran.status.success(), "{}", ran.both());
    assert!(
        ran.stdout.contains("9 → 5") && ran.stdout.contains("1 → 5"),
        "{}",
        ran.stdout
    );
    assert_eq!(job.committed(2), vec![Some(5), Some(5)]);
    // Past the last message: the end offset. One topic named explicitly.
    let topic = job.topic.clone();
    let ran = job.reset(&[
        "--to-timestamp",
        "2030-01-01T00:00:00+08:00",
        "--topic",
        &topic,
        "--yes",
    ]);
    assert!(ran.status.success(), "{}", ran.both());
    assert_eq!(job.committed(2), vec![Some(10), Some(10)]);
    let ran = job.reset(&["--to", "earliest", "--yes"]);
    assert!(ran.status.success(), "{}", ran.both());
    assert_eq!(job.committed(2), vec![Some(0), Some(0)]);
    let ran = job.reset(&["--to", "latest", "--topic", "not-subscribed", "--yes"]);
    assert_eq!(ran.status.code(), Some(1), "{}", ran.both());
    assert!(
        ran.stderr.contains("not one of source.topics"),
        "{}",
        ran.both()
    );
}

#[test]
fn position_reset_without_yes_changes_nothing() {
    let job = Job::new("reset-dry", 2);
    job.produce(2, 10, BASE_MS);
    job.commit(&[7, 8]);
    let ran = job.reset(&["--to", "earliest"]);
    assert!(ran.status.success(), "{}", ran.both());
    assert!(
        ran.stdout.contains("7 → 0") && ran.stdout.contains("8 → 0"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("dry run: nothing committed"),
        "{}",
        ran.stdout
    );
    assert_eq!(job.committed(2), vec![Some(7), Some(8)]);
}

#[test]
fn position_reset_is_refused_while_the_group_has_live_members() {
    let job = Job::new("reset-live", 2);
    job.produce(2, 10, BASE_MS);
    job.commit(&[4, 4]);
    let consumer: BaseConsumer = support::consumer_config(&job.group).create().unwrap();
    consumer.subscribe(&[&job.topic]).unwrap();
    let started = Instant::now();
    loop {
        let _ = consumer.poll(Duration::from_millis(100));
        let assigned = consumer.assignment().unwrap().count();
        if assigned == 2 {
            break;
        }
        assert!(
            started.elapsed() < LIMIT,
            "the consumer never got its partitions"
        );
    }
    // Keep the member alive while the commands run. The guard ends the polling thread however
    // the scope ends (a panic included), or the scope would wait for it for ever.
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let stop = AtomicBool::new(false);
    let file = job.file();
    let (shown, refused) = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let _ = consumer.poll(Duration::from_millis(100));
            }
        });
        let _stop = StopOnDrop(&stop);
        let shown = starpipe(&["position", "show", "--config", &file, "--json"]);
        let refused = job.reset(&["--to", "earliest", "--yes"]);
        (shown, refused)
    });
    consumer.unsubscribe();
    drop(consumer);
    let doc: Value =
        serde_json::from_str(&shown.stdout).unwrap_or_else(|e| panic!("{e}: {}", shown.both()));
    assert_eq!(doc["state"], "Stable", "{doc}");
    let members = doc["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{doc}");
    assert_eq!(
        members[0]["assignment"].as_array().unwrap().len(),
        2,
        "{doc}"
    );
    assert_eq!(refused.status.code(), Some(1), "{}", refused.both());
    assert!(
        refused.stderr.contains("is active") && refused.stderr.contains("1 live member"),
        "{}",
        refused.both()
    );
    assert_eq!(job.committed(2), vec![Some(4), Some(4)]);
}
