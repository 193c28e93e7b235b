//! Producing a workload to Kafka with a `BaseProducer` (no async runtime), creating the topic
//! with an `AdminClient` driven by `futures::executor::block_on`, and reading a group's
//! committed offsets and a topic's watermarks from outside the group.

use std::borrow::Borrow;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::workload::Message;

/// What [`produce`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ProduceStats {
    pub messages: u64,
    /// Payload bytes handed to the producer.
    pub bytes: u64,
    /// Messages the brokers acknowledged.
    pub delivered: u64,
    /// Messages that failed delivery.
    pub failed: u64,
    /// Times the local queue was full (the producer then polled and retried).
    pub queue_full: u64,
    pub elapsed_secs: f64,
    pub first_error: Option<String>,
}

#[derive(Default)]
struct Ctx {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    type DeliveryOpaque = ();

    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        match r {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut g = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
                if g.is_none() {
                    *g = Some(e.to_string());
                }
            }
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Produces `messages` to `topic`, each to its own `Message::partition` (which must be
/// `< partitions`), with the send time as the record timestamp and no key. `rate` limits the
/// send rate (messages/s). Batches for throughput (`linger.ms=5`, `batch.size=1000000`,
/// `compression.type=lz4`), polls and retries on a full local queue, flushes at the end.
/// Streams: messages are dropped as soon as librdkafka has copied them.
pub fn produce<I>(
    brokers: &str,
    topic: &str,
    partitions: i32,
    messages: I,
    rate: Option<f64>,
) -> anyhow::Result<ProduceStats>
where
    I: IntoIterator,
    I::Item: Borrow<Message>,
{
    let producer: BaseProducer<Ctx> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "500000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("message.max.bytes", "10000000")
        .set("enable.idempotence", "true")
        .create_with_context(Ctx::default())
        .context("creating the Kafka producer")?;
    let start = Instant::now();
    let mut st = ProduceStats::default();
    for m in messages {
        let m = m.borrow();
        if m.partition < 0 || m.partition >= partitions {
            bail!(
                "message {} targets partition {} but the topic has {partitions}",
                m.seq,
                m.partition
            );
        }
        if let Some(rate) = rate.filter(|r| *r > 0.0) {
            let due = Duration::from_secs_f64(st.messages as f64 / rate);
            let el = start.elapsed();
            if due > el {
                // Serve delivery reports while waiting.
                producer.poll(due - el);
                let el = start.elapsed();
                if due > el {
                    std::thread::sleep(due - el);
                }
            }
        }
        let mut rec = BaseRecord::<(), [u8]>::to(topic)
            .partition(m.partition)
            .payload(m.payload.as_bytes())
            .timestamp(now_ms());
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    st.queue_full += 1;
                    producer.poll(Duration::from_millis(20));
                    rec = r;
                }
                Err((e, _)) => return Err(e).context("producing"),
            }
        }
        st.messages += 1;
        st.bytes += m.payload.len() as u64;
        if st.messages % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .context("flushing the producer")?;
    producer.poll(Duration::ZERO);
    let ctx = producer.context();
    st.delivered = ctx.delivered.load(Ordering::Relaxed);
    st.failed = ctx.failed.load(Ordering::Relaxed);
    st.first_error = ctx
        .first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    st.elapsed_secs = start.elapsed().as_secs_f64();
    Ok(st)
}

/// Creates `topic` with `partitions` partitions (replication 1). Returns `false` when it already
/// existed.
pub fn create_topic(brokers: &str, topic: &str, partitions: i32) -> anyhow::Result<bool> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .context("creating the Kafka admin client")?;
    let nt = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(30)))
        .request_timeout(Some(Duration::from_secs(30)));
    let res = futures::executor::block_on(admin.create_topics([&nt], &opts))
        .context("creating the topic")?;
    match res.into_iter().next() {
        None | Some(Ok(_)) => Ok(true),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(false),
        Some(Err((name, code))) => bail!("creating topic {name}: {code}"),
    }
}

/// How long [`committed_offsets`] waits for a group coordinator that is not ready yet (a fresh
/// or just restarted broker loads its groups first).
const COORDINATOR_WAIT: Duration = Duration::from_secs(60);

/// The committed offsets of `config`'s `group.id` for partitions `0..partitions` of `topic`
/// (`None`: no commit), read without joining the group. Coordinator-not-ready answers are
/// retried for a minute.
pub fn committed_offsets(
    config: &ClientConfig,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<Vec<Option<i64>>> {
    let consumer: BaseConsumer = config.create().context("creating a Kafka consumer")?;
    let offsets = committed_with(&consumer, topic, partitions);
    drop(consumer);
    offsets
}

/// [`committed_offsets`] with a consumer the caller keeps (one per group, reused across calls).
pub fn committed_with(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<Vec<Option<i64>>> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let found = retry_coordinator(|| consumer.committed_offsets(tpl.clone(), OP_TIMEOUT))
        .with_context(|| format!("reading the committed offsets of {topic}"))?;
    // The lists hold partition references: dropped before the consumer (see README, Testing).
    let offsets = found
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        })
        .collect();
    drop(found);
    drop(tpl);
    Ok(offsets)
}

/// `(log start, end)` offsets of partitions `0..partitions` of `topic`.
pub fn watermarks(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<Vec<(i64, i64)>> {
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, OP_TIMEOUT)
                .with_context(|| format!("reading the watermarks of {topic}[{p}]"))
        })
        .collect()
}

/// Timeout of one metadata or offset request.
const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// `op`, again while the group coordinator is not ready (for at most [`COORDINATOR_WAIT`]).
pub fn retry_coordinator<T>(mut op: impl FnMut() -> KafkaResult<T>) -> KafkaResult<T> {
    let deadline = Instant::now() + COORDINATOR_WAIT;
    loop {
        match op() {
            Err(e) if Instant::now() < deadline && coordinator_not_ready(&e) => {
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

fn coordinator_not_ready(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::NotCoordinator
                | RDKafkaErrorCode::CoordinatorLoadInProgress
                | RDKafkaErrorCode::CoordinatorNotAvailable
        )
    )
}
