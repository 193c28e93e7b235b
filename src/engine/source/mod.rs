//! The Kafka side: an rdkafka `BaseConsumer` (no async runtime) in the consumer group, and the
//! control thread that polls its main queue (rebalance callbacks run there, `rebalance.rs`),
//! commits offsets (`assignment.rs`) and decides when to stop (rdkafka.md §8).
//!
//! Commits: every second for partitions whose committable offset moved; on revocation; on stop.

mod assignment;
mod end;
mod progress;
mod rebalance;
mod reload;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, unbounded};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::worker::{PartitionWorker, WorkerCmd};
use super::{RunUntil, Shared};
use crate::config::StartFrom;
use assignment::Assignment;
use end::EndOffsets;
use progress::Progress;
use rebalance::{REVOKE_DEADLINE, SourceContext, SourceState};
pub(crate) use reload::ReloadRequest;

pub(crate) type PartitionQueue = rdkafka::consumer::base_consumer::PartitionQueue<SourceContext>;

/// How often committable offsets are committed.
const COMMIT_EVERY: Duration = Duration::from_secs(1);
/// How often `--stop-at-end` checks the group's commits against the end offsets.
const END_CHECK_EVERY: Duration = Duration::from_secs(1);

/// How much librdkafka may fetch ahead, sized from `totalDataInMemMb` so that the process RSS
/// stays near the budget: prefetched messages live outside it (in librdkafka's per-partition
/// queues and fetch buffers) until a partition worker takes them. Per partition the queue holds
/// budget/16 (4–16 MiB) and a fetch brings a sixteenth of the queue (256 KiB–1 MiB); one fetch
/// response is at most budget/8 (4–64 MiB). At the default 512 MiB budget these are 16 MiB,
/// 1 MiB, 64 MiB; at 64 MiB they are 4 MiB, 256 KiB, 8 MiB. Also used by `perf/run`'s null
/// consumer, which must fetch like starpipe does.
///
/// The fetch is small because it counts compressed bytes and the queue does not: librdkafka
/// asks for a partition while its queue is under its size, and decompresses what comes back
/// into it whole. CDC JSON compresses about tenfold, so a fetch of a quarter of the queue
/// (1 MiB at 64 MiB, before) could put 8–10 MiB more into a 4 MiB queue; lz4 batches are also
/// decompressed into buffers guessed at four times their compressed size and grown by 1.75×,
/// held until their last message is gone. At 64 MiB with four busy partitions, heaptrack put
/// 51 MB of librdkafka's heap in lz4 buffers; with the smaller fetch, glibc's arenas (only
/// librdkafka uses them) held 28–39 MB of RSS. It cost a single partition thread 7–13 % of its
/// rate, none with two (perf/README.md, "Peak RSS at 64 MiB"). Uncompressed topics or a
/// distant broker may want a larger `[source.kafka]` `max.partition.fetch.bytes`; a smaller
/// `queued.max.messages.kbytes` wants a smaller one.
///
/// The queue never shrinks below 4 MiB: once a partition's queue is over its size, librdkafka
/// waits `fetch.queue.backoff.ms` (20 ms) before it asks for that partition again, and then
/// for the fetch itself (one in flight per broker), so the queue must feed a worker that long.
/// A worker decodes 100–300 MB of messages per second: a 1 MiB queue ran dry in under 10 ms,
/// and at a 16 MiB budget the applied steady state was 0.75–0.77 of the sink ceiling. 4 MiB
/// lasts 14–40 ms and brought it to 0.94 (perf/README.md, "Small budgets"). Below a 64 MiB
/// budget this costs RSS: measured, 25 MB more with 4 busy partitions, more than the queues'
/// 12 MiB because a queued message keeps its whole decompressed batch alive. With many partitions
/// and a small budget, `[source.kafka]` `queued.max.messages.kbytes` caps it.
///
/// The broker's wait for an empty fetch is short (20 ms): a partition whose queue is full is
/// left out of the next fetch request, and when the partitions it does ask for are idle the
/// broker holds the request for `fetch.wait.max.ms` — the busy partition gets one queue per
/// wait. With the former 100 ms and the 1 MiB queue of that time, a 16 MiB budget read a lone
/// busy partition at 15 MB/s (20 ms: 40 MB/s; issue 14).
pub fn prefetch_settings(budget_mb: u64) -> [(&'static str, String); 6] {
    let kib = budget_mb.saturating_mul(1024);
    let queue_kib = (kib / 16).clamp(4 * 1024, 16 * 1024);
    let partition_fetch = (queue_kib / 16).max(256) * 1024;
    let fetch_max = (kib / 8).clamp(4 * 1024, 64 * 1024) * 1024;
    [
        ("queued.max.messages.kbytes", queue_kib.to_string()),
        ("queued.min.messages", "100000".to_string()),
        ("max.partition.fetch.bytes", partition_fetch.to_string()),
        ("fetch.max.bytes", fetch_max.to_string()),
        ("fetch.queue.backoff.ms", "20".to_string()),
        ("fetch.wait.max.ms", "20".to_string()),
    ]
}

/// Librdkafka settings starpipe chooses (overridable in `[source.kafka]`, except the managed
/// keys). Per-partition queues are bounded so the process RSS stays near the budget.
fn client_config(shared: &Shared) -> ClientConfig {
    let src = &shared.config().source;
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
        .set("partition.assignment.strategy", "cooperative-sticky")
        // Partition lags for the metrics and the status line.
        .set("statistics.interval.ms", "5000");
    for (k, v) in prefetch_settings(shared.config().target.total_data_in_mem_mb) {
        cc.set(k, v);
    }
    for (k, v) in src.kafka.iter() {
        cc.set(k, v);
    }
    cc
}

/// Runs the source until a stop signal, a fatal error, or the end (`RunUntil::End`).
pub(crate) fn run(
    shared: Arc<Shared>,
    until: RunUntil,
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let pool = WorkerPool::start(&shared)?;
    let state = Arc::new(SourceState {
        shared: Arc::clone(&shared),
        workers: pool.commands.clone(),
        assignment: Assignment::default(),
        until,
        ends: OnceLock::new(),
        stopping: AtomicBool::new(false),
    });
    let consumer = subscribe(&state)?;
    let mut progress = Progress::new();
    control_loop(&consumer, &state, &Signals { stop, reload }, &mut progress);
    shutdown(&consumer, &state);
    pool.join();
    drop(consumer);
    progress.log(&shared, &state.assignment);
    Ok(())
}

/// The partition workers: one pinned thread each, `consumeParallel` of them.
struct WorkerPool {
    commands: Vec<Sender<WorkerCmd>>,
    threads: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    fn start(shared: &Arc<Shared>) -> anyhow::Result<WorkerPool> {
        let n_workers = shared.config().source.consume_parallel.max(1);
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let mut pool = WorkerPool {
            commands: Vec::with_capacity(n_workers),
            threads: Vec::with_capacity(n_workers),
        };
        for i in 0..n_workers {
            let (tx, rx) = unbounded();
            let worker = PartitionWorker::new(Arc::clone(shared), rx);
            let core = (!cores.is_empty()).then(|| cores[i % cores.len()]);
            let thread = std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    worker.run();
                })?;
            pool.threads.push(thread);
            pool.commands.push(tx);
        }
        Ok(pool)
    }

    /// Tells every worker to hand over its blocks and exit, and waits for them.
    fn join(self) {
        for w in &self.commands {
            let _ = w.send(WorkerCmd::Shutdown);
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Creates the consumer and subscribes to the job's topics.
fn subscribe(state: &Arc<SourceState>) -> anyhow::Result<Arc<BaseConsumer<SourceContext>>> {
    let shared = &state.shared;
    let context = SourceContext {
        consumer: OnceLock::new(),
        state: Arc::clone(state),
        client_log: crate::kafka::ClientLog::default(),
    };
    let consumer: Arc<BaseConsumer<SourceContext>> =
        Arc::new(client_config(shared).create_with_context(context)?);
    let _ = consumer.context().consumer.set(Arc::downgrade(&consumer));
    if state.until == RunUntil::End {
        let ends = capture_ends(&consumer, state)?;
        let _ = state.ends.set(ends);
    }
    let config = shared.config();
    let topics: Vec<&str> = config.source.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    tracing::info!(
        brokers = %shared.config().source.brokers,
        topics = ?topics,
        group = %shared.config().source.consumer_group_id,
        run = %shared.run,
        workers = state.workers.len(),
        budget_mb = shared.budget.limit() >> 20,
        batch_mb = shared.config().target.flush_batch_mb,
        interval_s = shared.config().target.async_flush_interval_sec,
        "starpipe started"
    );
    Ok(consumer)
}

/// Polls the main queue (rebalances), commits, logs progress, until it is time to stop.
/// What the control loop watches besides Kafka.
struct Signals {
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
}

fn control_loop(
    consumer: &BaseConsumer<SourceContext>,
    state: &SourceState,
    signals: &Signals,
    progress: &mut Progress,
) {
    let shared = &state.shared;
    let mut last_commit = Instant::now();
    let mut last_end_check = Instant::now();
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
            Some(Err(e)) => consumer.context().client_log.error(&e, "consumer poll"),
            None => {}
        }
        if last_commit.elapsed() >= COMMIT_EVERY {
            state.assignment.commit(consumer, &state.shared.metrics);
            *shared.assignment.lock() = state.assignment.status();
            last_commit = Instant::now();
        }
        progress.maybe_log(shared, &state.assignment);
        if signals.stop.load(Ordering::SeqCst) || shared.fatal.is_set() {
            return;
        }
        take_reloads(consumer, state, &signals.reload);
        if state.until == RunUntil::End && last_end_check.elapsed() >= END_CHECK_EVERY {
            last_end_check = Instant::now();
            if reached_end(consumer, state) {
                tracing::info!("the group committed every partition to its end offset");
                return;
            }
        }
    }
}

/// Applies the reloads asked for (`SIGHUP` sets `flag`; `POST /reload` queues a request).
fn take_reloads(consumer: &BaseConsumer<SourceContext>, state: &SourceState, flag: &AtomicBool) {
    if flag.swap(false, Ordering::SeqCst) {
        let _ = state.shared.reloads.0.send(ReloadRequest { reply: None });
    }
    while let Ok(request) = state.shared.reloads.1.try_recv() {
        let outcome = reload::reload(consumer, state);
        match &outcome {
            Ok(message) => tracing::info!("{message}"),
            Err(message) => tracing::warn!("{message}"),
        }
        if let Some(reply) = request.reply {
            let _ = reply.send(outcome);
        }
    }
}

/// The end is reached when the group committed every partition of the subscription to the end
/// offset it had at start. Once this instance read its own partitions to their ends, it loads
/// and commits them first.
fn reached_end(consumer: &BaseConsumer<SourceContext>, state: &SourceState) -> bool {
    let Some(ends) = state.ends.get() else {
        return false;
    };
    if !state.assignment.owned_at_end() {
        return false;
    }
    if !state.shared.tables.flush_all(REVOKE_DEADLINE) {
        return false;
    }
    state.assignment.commit(consumer, &state.shared.metrics);
    ends.committed_by_group(consumer)
}

/// The subscription's end offsets, retried while the brokers do not answer.
fn capture_ends(
    consumer: &BaseConsumer<SourceContext>,
    state: &SourceState,
) -> anyhow::Result<EndOffsets> {
    loop {
        match EndOffsets::capture(consumer, &state.shared.config().source.topics) {
            Ok(ends) => return Ok(ends),
            Err(e) => {
                tracing::warn!("cannot read the end offsets of the subscription yet: {e}");
                if state.shared.hard_stop.load(Ordering::SeqCst) || state.shared.fatal.is_set() {
                    anyhow::bail!("stopped before the end offsets could be read: {e}");
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// Stops consuming, hands over, loads, commits, and leaves the group.
fn shutdown(consumer: &BaseConsumer<SourceContext>, state: &SourceState) {
    tracing::info!("stopping: loading what was consumed and committing");
    state.stopping.store(true, Ordering::SeqCst);
    consumer.unsubscribe();
    let deadline = Instant::now() + REVOKE_DEADLINE * 2;
    let hard_stop = &state.shared.hard_stop;
    while !state.assignment.is_empty()
        && Instant::now() < deadline
        && !hard_stop.load(Ordering::SeqCst)
    {
        let _ = consumer.poll(Duration::from_millis(100));
    }
    // Whatever the revocation did not cover (fatal stop, lost assignment): flush and commit.
    if !state.shared.hard_stop.load(Ordering::SeqCst) {
        state.shared.tables.flush_all(REVOKE_DEADLINE);
        state.assignment.commit(consumer, &state.shared.metrics);
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
        assert_eq!(get(512, "max.partition.fetch.bytes"), 1 << 20);
        assert_eq!(get(512, "fetch.max.bytes"), 64 << 20);
        // 64 MiB: a sixteenth per partition queue, a sixteenth of that per partition fetch (it
        // counts compressed bytes).
        assert_eq!(get(64, "queued.max.messages.kbytes"), 4 * 1024);
        assert_eq!(get(64, "max.partition.fetch.bytes"), 256 << 10);
        assert_eq!(get(64, "fetch.max.bytes"), 8 << 20);
        // Tiny and huge budgets stay inside the bounds.
        // A queue lasts a worker through librdkafka's fetch backoff, whatever the budget.
        assert_eq!(get(16, "queued.max.messages.kbytes"), 4 * 1024);
        assert_eq!(get(1, "queued.max.messages.kbytes"), 4 * 1024);
        assert_eq!(get(1, "max.partition.fetch.bytes"), 256 << 10);
        assert_eq!(get(1, "fetch.max.bytes"), 4 << 20);
        assert_eq!(get(1 << 20, "queued.max.messages.kbytes"), 16 * 1024);
        assert_eq!(get(1 << 20, "fetch.max.bytes"), 64 << 20);
        assert_eq!(get(1 << 20, "max.partition.fetch.bytes"), 1 << 20);
    }
}
