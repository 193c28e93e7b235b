//! Source ceiling: how fast this machine's broker hands the topic to a consumer that does
//! nothing with it. Same librdkafka settings as `starpipe run` (`prefetch_settings`), one
//! thread per partition on a split partition queue, messages fetched and dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct SourceCeiling {
    pub messages: u64,
    pub bytes: u64,
    pub secs: f64,
    pub rows_per_s: f64,
    pub mb_per_s: f64,
    pub cpu_s: f64,
}

/// The consumer settings `starpipe run` uses for a job with this budget.
pub fn client_config(brokers: &str, group: &str, budget_mb: u64) -> ClientConfig {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest");
    for (k, v) in starpipe::engine::prefetch_settings(budget_mb) {
        cc.set(k, v);
    }
    cc
}

fn process_cpu_s() -> f64 {
    // SAFETY: getrusage fills the struct.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    crate::measure::timeval_secs(u.ru_utime) + crate::measure::timeval_secs(u.ru_stime)
}

/// Reads every partition of `topic` from the beginning to its high watermark.
/// `total_rows` (known from the generator) turns messages/s into rows/s.
pub fn measure(
    brokers: &str,
    topic: &str,
    total_rows: u64,
    budget_mb: u64,
) -> anyhow::Result<SourceCeiling> {
    let group = format!("starpipe-bench-null-{}", std::process::id());
    let consumer: Arc<BaseConsumer> = Arc::new(
        client_config(brokers, &group, budget_mb)
            .create()
            .context("creating the null consumer")?,
    );
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .context("topic metadata")?;
    let partitions: Vec<i32> = md.topics()[0].partitions().iter().map(|p| p.id()).collect();
    let mut tpl = TopicPartitionList::new();
    let mut ends = Vec::new();
    for &p in &partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
        let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        ends.push(high);
    }
    let cpu0 = process_cpu_s();
    let started = Instant::now();
    consumer.assign(&tpl)?;
    let messages = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for (&p, &end) in partitions.iter().zip(&ends) {
        let queue = consumer
            .split_partition_queue(topic, p)
            .context("split_partition_queue")?;
        let (messages, bytes) = (messages.clone(), bytes.clone());
        threads.push(std::thread::spawn(move || -> anyhow::Result<()> {
            let mut next = 0i64;
            while next < end {
                // The main queue must be served for the partition queues to be fed; the main
                // thread does that below.
                if let Some(m) = queue.poll(Duration::from_millis(100)) {
                    let m = m?;
                    bytes.fetch_add(m.payload().map_or(0, |p| p.len()) as u64, Ordering::Relaxed);
                    messages.fetch_add(1, Ordering::Relaxed);
                    next = m.offset() + 1;
                }
            }
            Ok(())
        }));
    }
    while !threads.iter().all(|t| t.is_finished()) {
        if let Some(Err(e)) = consumer.poll(Duration::from_millis(50)) {
            anyhow::bail!("null consumer: {e}");
        }
    }
    for t in threads {
        t.join().expect("null consumer thread")?;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu_s = process_cpu_s() - cpu0;
    warm_up_group_coordinator(&consumer, topic, &partitions)?;
    let messages = messages.load(Ordering::Relaxed);
    let bytes = bytes.load(Ordering::Relaxed);
    Ok(SourceCeiling {
        messages,
        bytes,
        secs,
        rows_per_s: total_rows as f64 / secs,
        mb_per_s: bytes as f64 / 1e6 / secs,
        cpu_s,
    })
}

/// Commits once in a consumer group, so a fresh broker creates `__consumer_offsets` and elects
/// its coordinators now, not during the first measured `starpipe run` (a one-time cost of the
/// broker, seconds long, that no steady-state deployment pays).
fn warm_up_group_coordinator(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: &[i32],
) -> anyhow::Result<()> {
    let mut tpl = TopicPartitionList::new();
    for &p in partitions {
        tpl.add_partition_offset(topic, p, Offset::Offset(0))?;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => return Ok(()),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => anyhow::bail!("no group coordinator after 120 s: {e}"),
        }
    }
}
