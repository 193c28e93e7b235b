//! Shared infrastructure for starpipe's integration tests (and `perf/`).
//!
//! Include it from an integration test with `mod support;`. Everything is started lazily and at
//! most once per test process:
//!
//! * [`kafka()`] / [`brokers()`]: a real single-node Apache Kafka (KRaft) broker started with
//!   `tests/kafka/broker` on a free port with a throw-away directory, or the external cluster
//!   named by `STARPIPE_TEST_BROKERS` (e.g. an AutoMQ cluster). Extra client properties for an
//!   external cluster (SASL, TLS, ...) come from `STARPIPE_TEST_KAFKA_OPTS="k=v;k=v"`.
//! * [`sim()`]: the `starrocks-sim` StarRocks emulator on free ports (only tests that call it
//!   need it).
//!
//! Cleanup: the broker script runs a watchdog that SIGKILLs the broker JVM and deletes its
//! directory as soon as this process is gone (normal exit, panic, Ctrl-C, SIGKILL); in addition
//! an `atexit` hook kills the JVM synchronously on a normal exit so that no broker outlives
//! `cargo test`. The simulator is our direct child and gets `PR_SET_PDEATHSIG(SIGKILL)`.
//!
//! The Kafka client is rdkafka used synchronously: admin futures are driven with
//! `futures::executor::block_on`, no async runtime.

#![allow(dead_code)]

pub mod certs;
pub mod e2e;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

/// Run the suite against this bootstrap list instead of starting a broker.
pub const ENV_BROKERS: &str = "STARPIPE_TEST_BROKERS";
/// `key=value;key=value` added to every client config the helpers build.
pub const ENV_KAFKA_OPTS: &str = "STARPIPE_TEST_KAFKA_OPTS";
/// Path of a prebuilt `starrocks-sim` binary.
pub const ENV_SIM_BIN: &str = "STARPIPE_SIM_BIN";

/// Whole-process time limit in seconds once Kafka or the simulator is in use (default 900,
/// `0` = none): a hung test (e.g. a consumer drop that never returns) aborts the test binary
/// instead of eating the CI budget; the broker watchdog then cleans up.
pub const ENV_PROCESS_TIMEOUT: &str = "STARPIPE_TEST_PROCESS_TIMEOUT_S";

/// Timeout for admin/metadata/flush calls in the helpers.
pub const OP_TIMEOUT: Duration = Duration::from_secs(30);

static PROCESS_TIMER: OnceLock<()> = OnceLock::new();

fn arm_process_timeout() {
    PROCESS_TIMER.get_or_init(|| {
        let secs: u64 = std::env::var(ENV_PROCESS_TIMEOUT)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(900);
        if secs == 0 {
            return;
        }
        let _ = std::thread::Builder::new()
            .name("test-process-timeout".into())
            .spawn(move || {
                std::thread::sleep(Duration::from_secs(secs));
                // not eprintln!: that output is captured by the test harness and lost on abort
                let msg = format!(
                    "support: test process still running after {secs} s ({ENV_PROCESS_TIMEOUT}); \
                     a test is probably hung. Aborting.\n"
                );
                let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
                kill_broker_at_exit();
                std::process::abort();
            });
    });
}

// -------------------------------------------------------------------------------------------
// Kafka broker

/// The Kafka cluster the tests talk to.
#[derive(Debug)]
pub struct Kafka {
    /// Bootstrap servers, e.g. `127.0.0.1:39092`.
    pub brokers: String,
    /// True when the cluster came from `STARPIPE_TEST_BROKERS`.
    pub external: bool,
    /// Broker directory (data, `logs/server.log`) of the local broker; deleted at exit.
    pub dir: Option<PathBuf>,
}

/// The secured listener of a broker started with `broker start --secure`.
#[derive(Debug, Clone)]
pub struct SecureListener {
    /// `127.0.0.1:port` of the SASL_SSL listener.
    pub brokers: String,
    /// The CA certificate clients trust (`ssl.ca.location`).
    pub ca: PathBuf,
    pub mechanism: &'static str,
    pub user: String,
    pub password: String,
}

impl SecureListener {
    /// librdkafka properties that reach this listener as `user` with `password`.
    pub fn client_props(&self, user: &str, password: &str) -> Vec<(&'static str, String)> {
        vec![
            ("security.protocol", "SASL_SSL".into()),
            ("sasl.mechanism", self.mechanism.into()),
            ("sasl.username", user.into()),
            ("sasl.password", password.into()),
            ("ssl.ca.location", self.ca.display().to_string()),
        ]
    }
}

/// The user and password `secure_kafka()` starts the broker with (more users: `SECURE_USERS`).
pub const SECURE_USER: (&str, &str) = ("starpipe", "starpipe-secret");
/// Every SCRAM user of the secured broker: the job's, and one for ACL tests.
pub const SECURE_USERS: [(&str, &str); 2] = [SECURE_USER, ("locked", "locked-secret")];

/// Which broker this test process starts: the plain one, or one with a SASL_SSL listener too
/// (set by [`secure_kafka`] before the first [`kafka`]).
static SECURE: OnceLock<bool> = OnceLock::new();
static SECURE_LISTENER: OnceLock<SecureListener> = OnceLock::new();

static KAFKA: OnceLock<Result<Kafka, String>> = OnceLock::new();
/// Pid of the local broker JVM, for the atexit hook (0 = none).
static BROKER_PID: AtomicI32 = AtomicI32::new(0);

/// The cluster for this test process; starts the local broker on first use.
pub fn kafka() -> &'static Kafka {
    arm_process_timeout();
    match KAFKA.get_or_init(init_kafka) {
        Ok(k) => k,
        Err(e) => panic!("Kafka for tests is unavailable: {e}"),
    }
}

/// The secured listener of this test process's broker, which is then started with `--secure`
/// (the plaintext listener stays what [`brokers`] gives, for the helpers). `None` with an
/// external cluster. Must come before any other use of Kafka in the process.
pub fn secure_kafka() -> Option<&'static SecureListener> {
    let secure = *SECURE.get_or_init(|| true);
    assert!(
        secure,
        "secure_kafka() after the plain broker was started in this test process"
    );
    let _ = kafka();
    SECURE_LISTENER.get()
}

/// Bootstrap servers of the test cluster.
pub fn brokers() -> String {
    kafka().brokers.clone()
}

/// True when running against an external cluster (`STARPIPE_TEST_BROKERS`).
pub fn is_external() -> bool {
    kafka().external
}

/// Path of `tests/kafka/broker`.
pub fn broker_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafka/broker")
}

fn init_kafka() -> Result<Kafka, String> {
    if let Ok(b) = std::env::var(ENV_BROKERS) {
        let b = b.trim().to_string();
        if !b.is_empty() {
            return Ok(Kafka {
                brokers: b,
                external: true,
                dir: None,
            });
        }
    }
    let dir = std::env::temp_dir().join(format!(
        "starpipe-kafka-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let t0 = Instant::now();
    let secure = *SECURE.get_or_init(|| false);
    let mut cmd = Command::new(broker_script());
    cmd.arg("start")
        .arg("--dir")
        .arg(&dir)
        .arg("--parent-pid")
        .arg(std::process::id().to_string())
        .arg("--delete-dir-on-exit");
    if secure {
        cmd.arg("--secure");
        for (user, password) in SECURE_USERS {
            cmd.arg("--scram-user").arg(format!("{user}={password}"));
        }
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", broker_script().display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("`broker start` failed ({}):\n{stderr}", out.status));
    }
    // The plaintext address, then (with --secure) the SASL_SSL one.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let addresses: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let brokers = addresses
        .first()
        .ok_or_else(|| format!("`broker start` printed no address; stderr:\n{stderr}"))?
        .to_string();
    if secure {
        let sasl_ssl = addresses.get(1).ok_or_else(|| {
            format!("`broker start --secure` printed one address; stderr:\n{stderr}")
        })?;
        let _ = SECURE_LISTENER.set(SecureListener {
            brokers: sasl_ssl.to_string(),
            ca: dir.join("tls").join("ca.pem"),
            mechanism: "SCRAM-SHA-512",
            user: SECURE_USER.0.into(),
            password: SECURE_USER.1.into(),
        });
    }
    if let Some(pid) = std::fs::read_to_string(dir.join("broker.pid"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<i32>().ok())
    {
        BROKER_PID.store(pid, Ordering::SeqCst);
        // SAFETY: registering a plain extern "C" fn without captured state.
        unsafe {
            libc::atexit(kill_broker_at_exit);
        }
    }
    eprintln!(
        "support: Kafka broker {brokers} up in {:.1?} (dir {})",
        t0.elapsed(),
        dir.display()
    );
    Ok(Kafka {
        brokers,
        external: false,
        dir: Some(dir),
    })
}

fn proc_is_kafka(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| c.windows(b"kafka.Kafka".len()).any(|w| w == b"kafka.Kafka"))
        .unwrap_or(false)
}

fn proc_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // a zombie waits for its (re)parent to reap it but holds no resources any more
        Ok(s) => {
            s.rfind(')')
                .and_then(|i| s[i + 1..].split_whitespace().next())
                == Some("Z")
        }
    }
}

extern "C" fn kill_broker_at_exit() {
    let pid = BROKER_PID.swap(0, Ordering::SeqCst);
    if pid <= 0 || !proc_is_kafka(pid) {
        return;
    }
    // SAFETY: plain syscall; pid was checked to be our broker JVM just above.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !proc_gone(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs Kafka's ACL tool (`kafka.admin.AclCommand`, as `kafka-acls.sh` does) against the local
/// broker's plaintext listener, whose principal is the super user. Panics on failure.
pub fn kafka_acls(args: &[&str]) {
    let classpath = Command::new(broker_script())
        .arg("classpath")
        .output()
        .expect("broker classpath");
    assert!(classpath.status.success(), "broker classpath failed");
    let classpath = String::from_utf8_lossy(&classpath.stdout)
        .trim()
        .to_string();
    let java = std::env::var("JAVA")
        .ok()
        .or_else(|| {
            std::env::var("JAVA_HOME")
                .ok()
                .map(|h| format!("{h}/bin/java"))
        })
        .filter(|j| Path::new(j).exists())
        .unwrap_or_else(|| "java".into());
    let out = Command::new(java)
        .args(["-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", &classpath])
        .arg("kafka.admin.AclCommand")
        .args(["--bootstrap-server", &brokers()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run AclCommand");
    assert!(
        out.status.success(),
        "kafka-acls {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// -------------------------------------------------------------------------------------------
// names and client configs

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A name unique across test processes and runs: `<prefix>-<pid>-<seq>-<random>`. Only
/// `[A-Za-z0-9._-]` of `prefix` is kept (valid for topics and groups).
pub fn unique_name(prefix: &str) -> String {
    let clean: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{clean}-{}-{}-{:06x}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        nanos & 0xff_ffff
    )
}

/// Unique topic name for a test (always unique, so suites can share an external cluster).
pub fn unique_topic(prefix: &str) -> String {
    unique_name(&format!("sp-{prefix}"))
}

/// Unique consumer group name for a test.
pub fn unique_group(prefix: &str) -> String {
    unique_name(&format!("sp-g-{prefix}"))
}

fn extra_opts() -> Vec<(String, String)> {
    std::env::var(ENV_KAFKA_OPTS)
        .unwrap_or_default()
        .split(';')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// Base client config: bootstrap servers plus `STARPIPE_TEST_KAFKA_OPTS`.
pub fn client_config() -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers());
    for (k, v) in extra_opts() {
        c.set(k, v);
    }
    c
}

/// Consumer config for `group` with short group timings, manual commits, `earliest` reset.
pub fn consumer_config(group: &str) -> ClientConfig {
    let mut c = client_config();
    c.set("group.id", group)
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("max.poll.interval.ms", "20000")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("allow.auto.create.topics", "false")
        .set("fetch.wait.max.ms", "100")
        .set("topic.metadata.refresh.interval.ms", "5000");
    for (k, v) in extra_opts() {
        c.set(k, v); // explicit options win
    }
    c
}

/// Producer config: acks=all, idempotent, small linger.
pub fn producer_config() -> ClientConfig {
    let mut c = client_config();
    c.set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000");
    for (k, v) in extra_opts() {
        c.set(k, v);
    }
    c
}

// -------------------------------------------------------------------------------------------
// admin

/// A synchronous-use admin client (drive its futures with [`block_on`]).
pub fn admin() -> AdminClient<DefaultClientContext> {
    client_config().create().expect("create AdminClient")
}

/// `futures::executor::block_on`, re-exported for admin calls.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

/// Creates `name` with `partitions` partitions (broker-default replication) and waits until
/// every partition has a leader. Panics on failure.
pub fn create_topic(name: &str, partitions: i32) {
    create_topic_with(name, partitions, &[]);
}

/// [`create_topic`] with topic configs, e.g. `&[("message.timestamp.type", "LogAppendTime")]`.
pub fn create_topic_with(name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin = admin();
    // -1: the broker's default.replication.factor (1 locally, the cluster's choice elsewhere)
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(-1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let opts = AdminOptions::new()
        .operation_timeout(Some(OP_TIMEOUT))
        .request_timeout(Some(OP_TIMEOUT));
    let results = block_on(admin.create_topics([&topic], &opts))
        .unwrap_or_else(|e| panic!("create_topics({name}) failed: {e}"));
    for r in results {
        if let Err((t, code)) = r {
            panic!("creating topic {t} failed: {code:?}");
        }
    }
    wait_topic_ready(name, partitions);
}

/// Deletes a topic; ignores "unknown topic".
pub fn delete_topic(name: &str) {
    let admin = admin();
    let opts = AdminOptions::new().operation_timeout(Some(OP_TIMEOUT));
    let results = block_on(admin.delete_topics(&[name], &opts))
        .unwrap_or_else(|e| panic!("delete_topics({name}) failed: {e}"));
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((t, code)) => panic!("deleting topic {t} failed: {code:?}"),
        }
    }
}

/// Grows `topic` to `partitions` partitions and waits until each has a leader.
pub fn grow_topic(topic: &str, partitions: i32) {
    let grown = block_on(admin().create_partitions(
        [&NewPartitions::new(topic, partitions as usize)],
        &AdminOptions::new().operation_timeout(Some(OP_TIMEOUT)),
    ))
    .expect("create partitions");
    assert!(grown.iter().all(Result::is_ok), "{grown:?}");
    wait_topic_ready(topic, partitions);
}

/// Waits until metadata shows `name` with `partitions` partitions, each with a leader.
pub fn wait_topic_ready(name: &str, partitions: i32) {
    let client: BaseConsumer = client_config().create().expect("create metadata client");
    let deadline = Instant::now() + OP_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        match client.fetch_metadata(Some(name), Duration::from_secs(5)) {
            Ok(md) => {
                if let Some(t) = md.topics().iter().find(|t| t.name() == name) {
                    let ready = t.error().is_none()
                        && t.partitions().len() == partitions as usize
                        && t.partitions()
                            .iter()
                            .all(|p| p.error().is_none() && p.leader() >= 0);
                    if ready {
                        return;
                    }
                    last = format!("error {:?}, {} partitions", t.error(), t.partitions().len());
                }
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("topic {name} not ready within {OP_TIMEOUT:?}: {last}");
}

// -------------------------------------------------------------------------------------------
// producing

/// One record to produce. `partition: None` lets the partitioner choose (by key).
#[derive(Clone, Debug, Default)]
pub struct TestRecord {
    pub partition: Option<i32>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// Create time in ms since the epoch; `None` = now.
    pub timestamp: Option<i64>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl TestRecord {
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        TestRecord {
            value: Some(value.into()),
            ..Default::default()
        }
    }
    pub fn tombstone() -> Self {
        TestRecord::default()
    }
    pub fn key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }
    pub fn partition(mut self, p: i32) -> Self {
        self.partition = Some(p);
        self
    }
    pub fn timestamp(mut self, ts_ms: i64) -> Self {
        self.timestamp = Some(ts_ms);
        self
    }
    pub fn header(mut self, k: impl Into<String>, v: impl Into<Vec<u8>>) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// Where a record landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

#[derive(Default)]
struct DeliveryCollector {
    results: Mutex<HashMap<usize, Result<Delivered, String>>>,
}

impl ClientContext for DeliveryCollector {}

impl ProducerContext for DeliveryCollector {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, idx: usize) {
        let r = match result {
            Ok(m) => Ok(Delivered {
                partition: m.partition(),
                offset: m.offset(),
            }),
            Err((e, m)) => Err(format!("{e} (partition {})", m.partition())),
        };
        self.results.lock().unwrap().insert(idx, r);
    }
}

/// A plain `BaseProducer` with [`producer_config`], for tests that manage delivery themselves.
pub fn producer() -> BaseProducer {
    producer_config().create().expect("create BaseProducer")
}

/// Produces one record and waits for its acknowledgement.
pub fn produce(
    topic: &str,
    partition: Option<i32>,
    key: Option<&[u8]>,
    value: &[u8],
    timestamp: Option<i64>,
) -> Delivered {
    let rec = TestRecord {
        partition,
        key: key.map(<[u8]>::to_vec),
        value: Some(value.to_vec()),
        timestamp,
        headers: Vec::new(),
    };
    produce_batch(topic, &[rec])[0]
}

/// Produces `records` in order (per partition), flushes, and returns where each one landed
/// (same order as `records`). Panics if any record fails.
pub fn produce_batch(topic: &str, records: &[TestRecord]) -> Vec<Delivered> {
    let p: BaseProducer<DeliveryCollector> = producer_config()
        .create_with_context(DeliveryCollector::default())
        .expect("create BaseProducer");
    for (idx, r) in records.iter().enumerate() {
        let mut rec: BaseRecord<'_, [u8], [u8], usize> = BaseRecord::with_opaque_to(topic, idx);
        if let Some(part) = r.partition {
            rec = rec.partition(part);
        }
        if let Some(k) = &r.key {
            rec = rec.key(k.as_slice());
        }
        if let Some(v) = &r.value {
            rec = rec.payload(v.as_slice());
        }
        if let Some(ts) = r.timestamp {
            rec = rec.timestamp(ts);
        }
        if !r.headers.is_empty() {
            let mut h = OwnedHeaders::new_with_capacity(r.headers.len());
            for (k, v) in &r.headers {
                h = h.insert(Header {
                    key: k,
                    value: Some(v.as_slice()),
                });
            }
            rec = rec.headers(h);
        }
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    rec = back;
                    p.poll(Duration::from_millis(50));
                }
                Err((e, _)) => panic!("producing record {idx} to {topic} failed: {e}"),
            }
        }
        p.poll(Duration::ZERO);
    }
    p.flush(OP_TIMEOUT)
        .unwrap_or_else(|e| panic!("flush to {topic} failed: {e}"));
    let mut results = std::mem::take(&mut *p.context().results.lock().unwrap());
    (0..records.len())
        .map(|idx| match results.remove(&idx) {
            Some(Ok(d)) => d,
            Some(Err(e)) => panic!("record {idx} to {topic} not delivered: {e}"),
            None => panic!("record {idx} to {topic}: no delivery report after flush"),
        })
        .collect()
}

// -------------------------------------------------------------------------------------------
// consuming

/// Polls `consumer` until `n` messages arrived or `timeout` passed; returns
/// `(partition, offset, key, value, timestamp)` of each, in arrival order. Errors panic.
pub fn consume_n(consumer: &BaseConsumer, n: usize, timeout: Duration) -> Vec<Consumed> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::with_capacity(n);
    while out.len() < n && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => out.push(Consumed {
                topic: m.topic().to_string(),
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                timestamp: m.timestamp().to_millis(),
            }),
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => panic!("consumer error: {e}"),
        }
    }
    out
}

/// An owned consumed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumed {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp: Option<i64>,
}

// -------------------------------------------------------------------------------------------
// starrocks-sim

/// A running `starrocks-sim` (child of this process), started by the workspace's one launcher.
pub use starrocks_sim::launch::SimProcess as Sim;

static SIM: OnceLock<Result<Sim, String>> = OnceLock::new();

/// The simulator for this test process; built (if needed) and started on first use.
pub fn sim() -> &'static Sim {
    arm_process_timeout();
    match SIM.get_or_init(|| init_sim(&[])) {
        Ok(s) => s,
        Err(e) => panic!("starrocks-sim for tests is unavailable: {e}"),
    }
}

/// `target/<profile>` of the running test binary (`.../target/<profile>/deps/<test>-<hash>`).
fn target_profile_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    let dir = if deps.file_name()? == "deps" {
        deps.parent()?
    } else {
        deps
    };
    Some(dir.to_path_buf())
}

fn sim_binary() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var(ENV_SIM_BIN) {
        return Ok(PathBuf::from(p));
    }
    let dir = target_profile_dir().ok_or("cannot locate the target directory of this test")?;
    let bin = dir.join("starrocks-sim");
    // Always ask cargo (a no-op when fresh): `cargo test --test x` builds only the root package,
    // and a stale emulator binary would silently test old behaviour.
    let cargo = std::env::var("CARGO")
        .ok()
        .or(option_env!("CARGO").map(str::to_string))
        .unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("-p")
        .arg("starrocks-sim")
        .arg("--bin")
        .arg("starrocks-sim")
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    match dir.file_name().and_then(|s| s.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(profile) => {
            cmd.arg("--profile").arg(profile);
        }
    }
    // Build into the target dir of this test binary (`<target>/<profile>`); with `--target`
    // builds (`<target>/<triple>/<profile>`) rely on CARGO_TARGET_DIR/defaults instead.
    if let Some(target) = dir.parent().filter(|t| t.join("CACHEDIR.TAG").exists()) {
        cmd.arg("--target-dir").arg(target);
    }
    eprintln!("support: building starrocks-sim: {cmd:?}");
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("`cargo build -p starrocks-sim` failed: {status}"));
    }
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!("{} missing after build", bin.display()))
    }
}

/// Starts a dedicated simulator with extra CLI arguments (e.g. `["--schema-change-ms", "50"]`),
/// separate from the shared [`sim()`]. It lives until [`Sim::kill`] or the end of the process.
pub fn start_sim(extra_args: &[&str]) -> Sim {
    arm_process_timeout();
    init_sim(extra_args).unwrap_or_else(|e| panic!("starting starrocks-sim failed: {e}"))
}

fn init_sim(extra_args: &[&str]) -> Result<Sim, String> {
    let bin = sim_binary()?;
    // integration tests and benches get CARGO_TARGET_TMPDIR (`target/tmp`): logs survive there
    let log_dir = option_env!("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let _ = std::fs::create_dir_all(&log_dir);
    static SIM_SEQ: AtomicU64 = AtomicU64::new(0);
    let log = log_dir.join(format!(
        "starrocks-sim-{}-{}.log",
        std::process::id(),
        SIM_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::write(&log, b"");
    let sim = starrocks_sim::launch::Launch::new(bin)
        .credentials("root", "starpipe")
        .args(extra_args)
        .log(&log)
        .die_with_parent()
        .start()
        .map_err(|e| e.to_string())?;
    eprintln!(
        "support: starrocks-sim up (pid {}, fe-http {})",
        sim.pid, sim.fe_http
    );
    Ok(sim)
}
