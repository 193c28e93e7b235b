//! The Kafka side: an rdkafka `BaseConsumer` (no async runtime) in the consumer group, its
//! rebalance callback, and the control thread that polls the main queue, commits offsets and
//! decides when to stop (rdkafka.md §8).
//!
//! - Assignment: for each new partition the queue is split *inside* the callback, before
//!   librdkafka starts fetching it, and handed to the least-loaded worker; the start offset is
//!   the group's committed offset, else `startFrom`.
//! - Revocation: the partition's worker hands over its open blocks and drops the queue; the
//!   flushers load everything; then the partition's committable offset is committed (Sync) and
//!   the revocation completes. Waits are bounded: a partition that cannot be made durable in
//!   time is not committed, and is replayed by its next owner.
//! - Commits: every second for partitions whose committable offset moved; on revocation; on stop.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, bounded, unbounded};
use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientConfig, ClientContext};

use super::Shared;
use super::offsets::OffsetTracker;
use super::worker::{PartitionSlot, PartitionWorker, WorkerCmd};
use crate::config::StartFrom;

pub type PartitionQueue = rdkafka::consumer::base_consumer::PartitionQueue<SourceContext>;

const BROKER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a revocation may wait for a partition's rows to be loaded.
const REVOKE_DEADLINE: Duration = Duration::from_secs(60);

struct Assigned {
    topic: Arc<str>,
    tracker: Arc<OffsetTracker>,
    worker: usize,
    /// High watermark at assignment (for `--stop-at-end`).
    end: Option<i64>,
    committed: Option<i64>,
}

pub struct SourceState {
    shared: Arc<Shared>,
    workers: Vec<Sender<WorkerCmd>>,
    assigned: Mutex<HashMap<(Arc<str>, i32), Assigned>>,
    stop_at_end: bool,
    /// Set once the first assignment was received.
    assigned_once: AtomicBool,
}

pub struct SourceContext {
    consumer: OnceLock<Weak<BaseConsumer<SourceContext>>>,
    state: Arc<SourceState>,
}

impl ClientContext for SourceContext {}

impl ConsumerContext for SourceContext {
    fn rebalance(
        &self,
        base: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(base.rebalance_protocol(), RebalanceProtocol::Cooperative);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.on_assign(base, tpl);
                let r = if cooperative {
                    base.incremental_assign(tpl)
                } else {
                    base.assign(tpl)
                };
                if let Err(e) = r {
                    self.state
                        .shared
                        .fatal
                        .set(format!("assigning partitions failed: {e}"));
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.on_revoke(base, tpl);
                let r = if cooperative {
                    base.incremental_unassign(tpl)
                } else {
                    base.unassign()
                };
                if let Err(e) = r {
                    tracing::warn!("unassigning partitions failed: {e}");
                }
            }
            other => {
                tracing::warn!("rebalance error: {other:?}");
                let _ = base.unassign();
            }
        }
    }
}

impl SourceContext {
    fn on_assign(&self, base: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let st = &self.state;
        let Some(consumer) = self.consumer.get().and_then(Weak::upgrade) else {
            return;
        };
        let committed = base
            .committed_offsets(tpl.clone(), BROKER_TIMEOUT)
            .unwrap_or_else(|_| tpl.clone());
        let mut by_time = TopicPartitionList::new();
        let mut starts: Vec<(String, i32, Option<i64>)> = Vec::new();
        for e in tpl.elements() {
            let c = committed
                .find_partition(e.topic(), e.partition())
                .map(|c| c.offset());
            let start = match c {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            };
            if start.is_none()
                && let StartFrom::Timestamp { epoch_ms } = st.shared.config.source.start_from
            {
                let _ = by_time.add_partition_offset(
                    e.topic(),
                    e.partition(),
                    Offset::Offset(epoch_ms),
                );
            }
            starts.push((e.topic().to_string(), e.partition(), start));
        }
        let by_time = if by_time.count() > 0 {
            base.offsets_for_times(by_time, BROKER_TIMEOUT).ok()
        } else {
            None
        };
        let mut assigned = st.assigned.lock();
        for (topic, partition, mut start) in starts {
            let offset = match start {
                Some(o) => Offset::Offset(o),
                None => match st.shared.config.source.start_from {
                    StartFrom::Earliest => Offset::Beginning,
                    StartFrom::Latest => Offset::End,
                    StartFrom::Timestamp { .. } => by_time
                        .as_ref()
                        .and_then(|t| t.find_partition(&topic, partition))
                        .map(|e| e.offset())
                        .filter(|o| matches!(o, Offset::Offset(_)))
                        .unwrap_or(Offset::End),
                },
            };
            let _ = tpl.set_partition_offset(&topic, partition, offset);
            let (low, high) = base
                .fetch_watermarks(&topic, partition, BROKER_TIMEOUT)
                .unwrap_or((0, -1));
            start = match offset {
                Offset::Offset(o) => Some(o),
                Offset::Beginning => Some(low),
                Offset::End => Some(high.max(0)),
                _ => start,
            };
            let Some(queue) = consumer.split_partition_queue(&topic, partition) else {
                st.shared
                    .fatal
                    .set(format!("cannot split the queue of {topic}[{partition}]"));
                continue;
            };
            let load: Vec<usize> = (0..st.workers.len())
                .map(|w| assigned.values().filter(|a| a.worker == w).count())
                .collect();
            let worker = (0..st.workers.len()).min_by_key(|&w| load[w]).unwrap_or(0);
            let topic: Arc<str> = Arc::from(topic.as_str());
            let tracker = Arc::new(OffsetTracker::new(start));
            tracing::info!(%topic, partition, start = ?start, end = high, worker, "partition assigned");
            let _ = st.workers[worker].send(WorkerCmd::Add(PartitionSlot {
                topic: Arc::clone(&topic),
                partition,
                queue,
                tracker: Arc::clone(&tracker),
            }));
            assigned.insert(
                (Arc::clone(&topic), partition),
                Assigned {
                    topic,
                    tracker,
                    worker,
                    end: st.stop_at_end.then_some(high),
                    committed: start,
                },
            );
        }
        st.assigned_once.store(true, Ordering::SeqCst);
    }

    fn on_revoke(&self, base: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let st = &self.state;
        let lost = base.assignment_lost();
        let revoked: Vec<(Arc<str>, i32)> = {
            let assigned = st.assigned.lock();
            tpl.elements()
                .iter()
                .filter_map(|e| {
                    assigned
                        .keys()
                        .find(|(t, p)| &**t == e.topic() && *p == e.partition())
                        .cloned()
                })
                .collect()
        };
        if revoked.is_empty() {
            return;
        }
        let started = Instant::now();
        let mut acks = Vec::new();
        {
            let assigned = st.assigned.lock();
            for key in &revoked {
                if let Some(a) = assigned.get(key) {
                    let (tx, rx) = bounded(1);
                    let _ = st.workers[a.worker].send(WorkerCmd::Remove {
                        topic: Arc::clone(&key.0),
                        partition: key.1,
                        done: tx,
                    });
                    acks.push(rx);
                }
            }
        }
        let until = Instant::now() + REVOKE_DEADLINE;
        let handed_over = acks.iter().all(|rx| rx.recv_deadline(until).is_ok());
        let flushed = handed_over
            && st
                .shared
                .tables
                .flush_all(until.saturating_duration_since(Instant::now()));
        let mut assigned = st.assigned.lock();
        if !lost && flushed {
            let mut commit = TopicPartitionList::new();
            for key in &revoked {
                if let Some(a) = assigned.get(key)
                    && a.tracker.outstanding() == 0
                    && let Some(o) = a.tracker.committable()
                {
                    let _ = commit.add_partition_offset(&a.topic, key.1, Offset::Offset(o));
                }
            }
            if commit.count() > 0
                && let Err(e) = base.commit(&commit, CommitMode::Sync)
            {
                tracing::warn!("commit on revocation failed (the next owner replays): {e}");
            }
        } else {
            tracing::warn!(
                lost,
                "revoked partitions could not be made durable in time; not committing (replay)"
            );
        }
        for key in &revoked {
            assigned.remove(key);
        }
        tracing::info!(
            partitions = revoked.len(),
            ms = started.elapsed().as_millis() as u64,
            "partitions revoked"
        );
    }
}

/// How much librdkafka may fetch ahead, sized from `totalDataInMemMb` so that the process RSS
/// stays near the budget: prefetched messages live outside it (in librdkafka's per-partition
/// queues and fetch buffers) until a partition worker takes them. Per partition the queue holds
/// budget/16 (1–16 MiB) and a fetch brings budget/64 (256 KiB–4 MiB); one fetch response is at
/// most budget/8 (4–64 MiB). At the default 512 MiB budget these are librdkafka-sized values
/// (16 MiB, 4 MiB, 64 MiB); at 64 MiB they are 4 MiB, 1 MiB, 8 MiB. The source ceiling in
/// `perf/run` stays far above what a partition worker decodes, so throughput does not suffer.
/// Also used by `perf/run`'s null consumer, which must fetch like starpipe does.
pub fn prefetch_settings(budget_mb: u64) -> [(&'static str, String); 6] {
    let kib = budget_mb.saturating_mul(1024);
    let queue_kib = (kib / 16).clamp(1024, 16 * 1024);
    let partition_fetch = (kib / 64).clamp(256, 4 * 1024) * 1024;
    let fetch_max = (kib / 8).clamp(4 * 1024, 64 * 1024) * 1024;
    [
        ("queued.max.messages.kbytes", queue_kib.to_string()),
        ("queued.min.messages", "100000".to_string()),
        ("max.partition.fetch.bytes", partition_fetch.to_string()),
        ("fetch.max.bytes", fetch_max.to_string()),
        ("fetch.queue.backoff.ms", "20".to_string()),
        ("fetch.wait.max.ms", "100".to_string()),
    ]
}

/// Librdkafka settings starpipe chooses (overridable in `[source.kafka]`, except the managed
/// keys). Per-partition queues are bounded so the process RSS stays near the budget.
fn client_config(shared: &Shared) -> ClientConfig {
    let src = &shared.config.source;
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &src.brokers)
        .set("group.id", &src.consumer_group_id)
        .set("session.timeout.ms", src.session_timeout_ms.to_string())
        .set(
            "heartbeat.interval.ms",
            (src.session_timeout_ms / 10).clamp(100, 3000).to_string(),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.offset.reset",
            match src.start_from {
                StartFrom::Latest => "latest",
                _ => "earliest",
            },
        )
        .set("partition.assignment.strategy", "cooperative-sticky");
    for (k, v) in prefetch_settings(shared.config.target.total_data_in_mem_mb) {
        cc.set(k, v);
    }
    for (k, v) in src.kafka.iter() {
        cc.set(k, v);
    }
    cc
}

/// Runs the source until stop, a fatal error, or the end (with `stop_at_end`).
pub fn run(shared: Arc<Shared>, stop_at_end: bool, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let n_workers = shared.config.source.consume_parallel.max(1);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let mut workers = Vec::new();
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    for i in 0..n_workers {
        let (tx, rx) = unbounded();
        let worker = PartitionWorker::new(Arc::clone(&shared), rx);
        let core = (!cores.is_empty()).then(|| cores[i % cores.len()]);
        threads.push(
            std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    worker.run();
                })?,
        );
        workers.push(tx);
    }
    let state = Arc::new(SourceState {
        shared: Arc::clone(&shared),
        workers,
        assigned: Mutex::new(HashMap::new()),
        stop_at_end,
        assigned_once: AtomicBool::new(false),
    });
    let context = SourceContext {
        consumer: OnceLock::new(),
        state: Arc::clone(&state),
    };
    let consumer: Arc<BaseConsumer<SourceContext>> =
        Arc::new(client_config(&shared).create_with_context(context)?);
    let _ = consumer.context().consumer.set(Arc::downgrade(&consumer));
    let topics: Vec<&str> = shared
        .config
        .source
        .topics
        .iter()
        .map(String::as_str)
        .collect();
    consumer.subscribe(&topics)?;
    tracing::info!(
        brokers = %shared.config.source.brokers,
        topics = ?topics,
        group = %shared.config.source.consumer_group_id,
        workers = n_workers,
        budget_mb = shared.budget.limit() >> 20,
        batch_mb = shared.config.target.flush_batch_mb,
        interval_s = shared.config.target.async_flush_interval_sec,
        "starpipe started"
    );

    let mut last_commit = Instant::now();
    let mut progress = Progress::new();
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                // Cannot happen with every partition split before assignment; never drop it.
                shared.fatal.set(format!(
                    "message on the main queue ({}[{}]@{}): partition queue not split",
                    rdkafka::Message::topic(&m),
                    rdkafka::Message::partition(&m),
                    rdkafka::Message::offset(&m)
                ));
            }
            Some(Err(e)) => tracing::warn!("Kafka: {e}"),
            None => {}
        }
        if last_commit.elapsed() >= Duration::from_secs(1) {
            commit_progress(&consumer, &state);
            last_commit = Instant::now();
        }
        progress.maybe_log(&shared, &state);
        if stop.load(Ordering::SeqCst) || shared.fatal.is_set() {
            break;
        }
        if stop_at_end && at_end(&state) {
            // Everything up to the end offsets is polled; make it durable and committed.
            if shared.tables.flush_all(Duration::from_secs(3600)) {
                commit_progress(&consumer, &state);
                if all_committed(&state) {
                    tracing::info!("every partition reached its end offset");
                    break;
                }
            }
        }
    }

    // Stop: stop consuming, hand over, load, commit, leave the group.
    tracing::info!("stopping: loading what was consumed and committing");
    consumer.unsubscribe();
    let deadline = Instant::now() + REVOKE_DEADLINE * 2;
    while !state.assigned.lock().is_empty() && Instant::now() < deadline {
        let _ = consumer.poll(Duration::from_millis(100));
    }
    // Whatever the revocation did not cover (fatal stop, lost assignment): flush and commit.
    if !shared.hard_stop.load(Ordering::SeqCst) {
        shared.tables.flush_all(REVOKE_DEADLINE);
        commit_progress(&consumer, &state);
    }
    for w in &state.workers {
        let _ = w.send(WorkerCmd::Shutdown);
    }
    for t in threads {
        let _ = t.join();
    }
    drop(consumer);
    progress.log(&shared, &state);
    Ok(())
}

/// Commits every partition whose committable offset moved.
fn commit_progress(consumer: &BaseConsumer<SourceContext>, state: &SourceState) {
    let mut assigned = state.assigned.lock();
    let mut tpl = TopicPartitionList::new();
    let mut moved = Vec::new();
    for ((topic, partition), a) in assigned.iter() {
        if let Some(o) = a.tracker.committable()
            && a.committed.is_none_or(|c| o > c)
        {
            let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(o));
            moved.push(((Arc::clone(topic), *partition), o));
        }
    }
    if tpl.count() == 0 {
        return;
    }
    match consumer.commit(&tpl, CommitMode::Sync) {
        Ok(()) => {
            for (k, o) in moved {
                if let Some(a) = assigned.get_mut(&k) {
                    a.committed = Some(o);
                }
            }
        }
        Err(e) => tracing::warn!("offset commit failed (will retry): {e}"),
    }
}

fn at_end(state: &SourceState) -> bool {
    if !state.assigned_once.load(Ordering::SeqCst) {
        return false;
    }
    let assigned = state.assigned.lock();
    assigned.values().all(|a| match a.end {
        Some(end) => a.tracker.next().or(a.committed).is_some_and(|n| n >= end),
        None => false,
    })
}

fn all_committed(state: &SourceState) -> bool {
    let assigned = state.assigned.lock();
    assigned
        .values()
        .all(|a| a.tracker.outstanding() == 0 && a.committed == a.tracker.committable())
}

/// The periodic one-line progress report.
struct Progress {
    last: Instant,
    rows: u64,
    bytes: u64,
}

impl Progress {
    fn new() -> Self {
        Progress {
            last: Instant::now(),
            rows: 0,
            bytes: 0,
        }
    }

    fn maybe_log(&mut self, shared: &Shared, state: &SourceState) {
        if self.last.elapsed() >= Duration::from_secs(10) {
            self.log(shared, state);
        }
    }

    fn log(&mut self, shared: &Shared, state: &SourceState) {
        let m = &shared.metrics;
        let secs = self.last.elapsed().as_secs_f64().max(0.001);
        let rows = m.rows_loaded.load(Ordering::Relaxed);
        let bytes = m.bytes_loaded.load(Ordering::Relaxed);
        let lag: i64 = state
            .assigned
            .lock()
            .values()
            .map(|a| match (a.end, a.tracker.next()) {
                (Some(e), Some(n)) => (e - n).max(0),
                _ => 0,
            })
            .sum();
        tracing::info!(
            rows_per_s = ((rows - self.rows) as f64 / secs) as u64,
            mb_per_s = format!("{:.2}", (bytes - self.bytes) as f64 / secs / 1e6),
            rows_loaded = rows,
            messages = m.messages.load(Ordering::Relaxed),
            lag,
            memory_mb = shared.budget.used() >> 20,
            bad = m.bad_messages.load(Ordering::Relaxed),
            "progress"
        );
        self.last = Instant::now();
        self.rows = rows;
        self.bytes = bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::prefetch_settings;

    fn get(budget_mb: u64, key: &str) -> u64 {
        prefetch_settings(budget_mb)
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.parse().unwrap())
            .unwrap()
    }

    #[test]
    fn prefetch_follows_the_budget_within_bounds() {
        // Default budget: librdkafka-sized prefetch.
        assert_eq!(get(512, "queued.max.messages.kbytes"), 16 * 1024);
        assert_eq!(get(512, "max.partition.fetch.bytes"), 4 << 20);
        assert_eq!(get(512, "fetch.max.bytes"), 64 << 20);
        // 64 MiB: a sixteenth per partition queue, a sixty-fourth per partition fetch.
        assert_eq!(get(64, "queued.max.messages.kbytes"), 4 * 1024);
        assert_eq!(get(64, "max.partition.fetch.bytes"), 1 << 20);
        assert_eq!(get(64, "fetch.max.bytes"), 8 << 20);
        // Tiny and huge budgets stay inside the bounds.
        assert_eq!(get(1, "queued.max.messages.kbytes"), 1024);
        assert_eq!(get(1, "max.partition.fetch.bytes"), 256 << 10);
        assert_eq!(get(1, "fetch.max.bytes"), 4 << 20);
        assert_eq!(get(1 << 20, "queued.max.messages.kbytes"), 16 * 1024);
        assert_eq!(get(1 << 20, "fetch.max.bytes"), 64 << 20);
    }
}
