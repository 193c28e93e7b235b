//! The rebalance callback (rdkafka.md §8). It runs on the control thread, inside `poll`.
//!
//! - Assignment: for each new partition the queue is split *inside* the callback, before
//!   librdkafka starts fetching it, and handed to the least-loaded worker; the start offset is
//!   the group's committed offset, else `startFrom`.
//! - Revocation: the partition's worker hands over its open blocks and drops the queue; the
//!   flushers load everything; then the partition's committable offset is committed (Sync) and
//!   the revocation completes. Waits are bounded: a partition that cannot be made durable in
//!   time is not committed, and is replayed by its next owner.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, bounded};
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

use super::assignment::{Assigned, Assignment};
use super::end::EndOffsets;
use crate::config::StartFrom;
use crate::engine::blocks::PartitionId;
use crate::engine::offsets::OffsetTracker;
use crate::engine::worker::{AssignedPartition, PartitionSlot, WorkerCmd};
use crate::engine::{RunUntil, Shared};

const BROKER_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts at reading the group's committed offsets before the job stops.
const COMMITTED_ATTEMPTS: u32 = 3;
/// How long stopping waits for the last revocation and loads.
pub(super) const REVOKE_DEADLINE: Duration = Duration::from_secs(60);
/// Exit status when a revocation could not load its rows in time.
pub(crate) const EXIT_REVOCATION_TIMEOUT: i32 = 3;

/// What the control thread and the rebalance callback share.
pub(crate) struct SourceState {
    pub shared: Arc<Shared>,
    pub workers: Vec<Sender<WorkerCmd>>,
    pub assignment: Assignment,
    pub until: RunUntil,
    /// With `RunUntil::End`: the subscription's end offsets, captured at start.
    pub ends: OnceLock<EndOffsets>,
    /// Set when the job stops: revocations then end without ending the process.
    pub stopping: AtomicBool,
}

pub(crate) struct SourceContext {
    pub(super) consumer: OnceLock<Weak<BaseConsumer<SourceContext>>>,
    pub(super) state: Arc<SourceState>,
    /// librdkafka's log lines and errors, without floods.
    pub(super) client_log: crate::kafka::ClientLog,
}

impl ClientContext for SourceContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.client_log.log(level, fac, log_message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.client_log.error(&error, reason);
        // librdkafka would retry a refused login forever (a rotated password, a broker that
        // came up refusing the job): the job stops and says why instead of looking alive.
        if error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::Authentication) {
            self.state.shared.fatal.set(format!(
                "Kafka refused the job's credentials: {reason}; check the sasl.* settings of \
                 [source.kafka]"
            ));
        }
    }

    /// librdkafka's statistics (`statistics.interval.ms`): each assigned partition's lag.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let lags: Vec<(String, i32, i64)> = statistics
            .topics
            .iter()
            .flat_map(|(topic, t)| {
                t.partitions
                    .iter()
                    .filter(|(p, part)| **p >= 0 && part.consumer_lag >= 0)
                    .map(move |(p, part)| (topic.clone(), *p, part.consumer_lag))
            })
            .collect();
        self.state.shared.metrics.lags(&lags);
    }
}

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
                // Whatever librdkafka meant, the partitions are unassigned: fenced and handed
                // over like a lost assignment, so that no old handle keeps polling them and
                // nothing read under them loads after another assignment began.
                tracing::warn!("rebalance error: {other:?}");
                let owned = self.state.assignment.all_owned();
                if !owned.is_empty() {
                    self.drop_lost(&owned);
                }
                let _ = base.unassign();
            }
        }
    }
}

fn partitions(tpl: &TopicPartitionList) -> impl Iterator<Item = PartitionId> + '_ {
    tpl.elements()
        .into_iter()
        .map(|e| PartitionId::new(e.topic(), e.partition()))
}

impl SourceContext {
    fn on_assign(&self, base: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let Some(consumer) = self.consumer.get().and_then(Weak::upgrade) else {
            return;
        };
        let committed = match committed_offsets(base, tpl) {
            Ok(c) => c,
            Err(e) => {
                // Starting from `startFrom` instead could skip the backlog (`latest`, a
                // timestamp) or replay it all: the job stops; nothing is read or committed.
                self.state.shared.fatal.set(format!(
                    "cannot read the group's committed offsets of the assigned partitions ({e}); \
                     not starting them from startFrom"
                ));
                return;
            }
        };
        for (id, offset) in self.start_offsets(base, tpl, &committed) {
            let _ = tpl.set_partition_offset(&id.topic, id.partition, offset);
            self.assign(base, &consumer, id, offset);
        }
    }

    /// Where each new partition starts: the group's committed offset, else `startFrom`.
    fn start_offsets(
        &self,
        base: &BaseConsumer<Self>,
        tpl: &TopicPartitionList,
        committed: &TopicPartitionList,
    ) -> Vec<(PartitionId, Offset)> {
        let starts: Vec<(PartitionId, Option<i64>)> = partitions(tpl)
            .map(|id| {
                let found = committed.find_partition(&id.topic, id.partition);
                let offset = match found.map(|c| c.offset()) {
                    Some(Offset::Offset(o)) => Some(o),
                    _ => None,
                };
                (id, offset)
            })
            .collect();
        let start_from = self.state.shared.config().source.start_from;
        let by_time = match start_from {
            StartFrom::Timestamp { epoch_ms } => {
                let uncommitted = starts.iter().filter(|(_, c)| c.is_none());
                offsets_at(base, uncommitted.map(|(id, _)| id), epoch_ms)
            }
            _ => None,
        };
        starts
            .into_iter()
            .map(|(id, committed)| {
                let offset = match (committed, start_from) {
                    (Some(o), _) => Offset::Offset(o),
                    (None, StartFrom::Earliest) => Offset::Beginning,
                    (None, StartFrom::Latest) => Offset::End,
                    (None, StartFrom::Timestamp { .. }) => by_time
                        .as_ref()
                        .and_then(|t| t.find_partition(&id.topic, id.partition))
                        .map(|e| e.offset())
                        .filter(|o| matches!(o, Offset::Offset(_)))
                        .unwrap_or(Offset::End),
                };
                (id, offset)
            })
            .collect()
    }

    /// Splits the partition's queue, hands it to the least-loaded worker and records it.
    fn assign(
        &self,
        base: &BaseConsumer<Self>,
        consumer: &Arc<BaseConsumer<Self>>,
        id: PartitionId,
        offset: Offset,
    ) {
        let st = &self.state;
        let (low, high) = base
            .fetch_watermarks(&id.topic, id.partition, BROKER_TIMEOUT)
            .unwrap_or((0, -1));
        let start = match offset {
            Offset::Offset(o) => Some(o),
            Offset::Beginning => Some(low),
            Offset::End => Some(high.max(0)),
            _ => None,
        };
        let Some(queue) = consumer.split_partition_queue(&id.topic, id.partition) else {
            st.shared
                .fatal
                .set(format!("cannot split the queue of {id}"));
            return;
        };
        let worker = st.assignment.least_loaded_worker(st.workers.len());
        let tracker = Arc::new(OffsetTracker::new(start));
        let lease = st.assignment.lease(&id);
        tracing::info!(topic = %id.topic, partition = id.partition, epoch = lease.epoch(), start = ?start, end = high, worker, "partition assigned");
        let partition = AssignedPartition {
            id: id.clone(),
            tracker: Arc::clone(&tracker),
            lease: Arc::clone(&lease),
        };
        let _ = st.workers[worker].send(WorkerCmd::Add(PartitionSlot { partition, queue }));
        let end = match st.ends.get() {
            Some(ends) => Some(ends.end_of(&id).unwrap_or(high)),
            None => (st.until == RunUntil::End).then_some(high),
        };
        let assigned = Assigned {
            tracker,
            lease,
            worker,
            end,
            committed: start,
        };
        st.assignment.insert(id, assigned);
    }

    fn on_revoke(&self, base: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let st = &self.state;
        let revoked = st.assignment.owned(partitions(tpl));
        if revoked.is_empty() {
            return;
        }
        let started = Instant::now();
        let ids: Vec<PartitionId> = revoked.iter().map(|(id, _)| id.clone()).collect();
        if base.assignment_lost() {
            self.drop_lost(&revoked);
        } else {
            self.drain_and_commit(base, &revoked);
        }
        st.assignment.revoke(&ids);
        tracing::info!(
            partitions = %ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
            ms = started.elapsed().as_millis() as u64,
            "partitions revoked"
        );
    }

    /// The group moved the partitions on without us (session expired): another member may
    /// already load them, so nothing of ours may load any more. Fenced first, then handed over
    /// (the flushers drop the blocks); not committed: the new owner replays from its commit.
    fn drop_lost(&self, revoked: &[(PartitionId, usize)]) {
        let st = &self.state;
        let ids: Vec<PartitionId> = revoked.iter().map(|(id, _)| id.clone()).collect();
        st.assignment.revoke(&ids);
        tracing::warn!(
            partitions = ids.len(),
            "assignment lost: the partitions' unloaded rows are dropped, their new owner replays \
             them"
        );
        self.hand_over(revoked, Instant::now() + self.drain_bound());
    }

    /// Loads what was read of the revoked partitions and commits it, within the drain bound.
    /// A revocation that cannot drain in time during a rebalance ends the process: its loads
    /// would otherwise land after another member took the partitions over.
    fn drain_and_commit(&self, base: &BaseConsumer<Self>, revoked: &[(PartitionId, usize)]) {
        let st = &self.state;
        let ids: Vec<PartitionId> = revoked.iter().map(|(id, _)| id.clone()).collect();
        let bound = self.drain_bound();
        if self.hand_over(revoked, Instant::now() + bound) {
            let commit = st.assignment.durable(&ids);
            if commit.count() > 0
                && let Err(e) = base.commit(&commit, CommitMode::Sync)
            {
                tracing::warn!("commit on revocation failed (the next owner replays): {e}");
            }
            return;
        }
        st.assignment.revoke(&ids);
        if st.stopping.load(Ordering::SeqCst) {
            tracing::warn!(
                "revoked partitions could not be loaded before the stop; not committing (the \
                 next run replays them)"
            );
            return;
        }
        st.shared.hard_stop.store(true, Ordering::SeqCst);
        tracing::error!(
            partitions = %ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
            bound_ms = bound.as_millis() as u64,
            "a revocation could not load its partitions' rows within the session timeout; \
             exiting so that none of them loads after another member took them over (their \
             new owner replays them)"
        );
        std::process::exit(EXIT_REVOCATION_TIMEOUT);
    }

    /// How long a revocation may take to load its partitions' rows: the session timeout, after
    /// which the group would move them on without us anyway.
    fn drain_bound(&self) -> Duration {
        Duration::from_millis(self.state.shared.config().source.session_timeout_ms.into())
    }

    /// Has the workers hand over the partitions' blocks and the flushers load everything;
    /// whether that finished before `until`.
    fn hand_over(&self, revoked: &[(PartitionId, usize)], until: Instant) -> bool {
        let st = &self.state;
        let acks: Vec<_> = revoked
            .iter()
            .map(|(id, worker)| {
                let (done, ack) = bounded(1);
                let partition = id.clone();
                let _ = st.workers[*worker].send(WorkerCmd::Remove { partition, done });
                ack
            })
            .collect();
        let handed_over = acks.iter().all(|rx| rx.recv_deadline(until).is_ok());
        handed_over
            && st
                .shared
                .tables
                .flush_all(until.saturating_duration_since(Instant::now()))
    }
}

/// The group's committed offsets of `tpl`'s partitions, retried: a failure is never "no commit".
fn committed_offsets(
    base: &BaseConsumer<SourceContext>,
    tpl: &TopicPartitionList,
) -> Result<TopicPartitionList, String> {
    let mut last = String::new();
    for attempt in 1..=COMMITTED_ATTEMPTS {
        match base.committed_offsets(tpl.clone(), BROKER_TIMEOUT) {
            Ok(c) => match partition_errors(&c) {
                None => return Ok(c),
                Some(e) => last = e,
            },
            Err(e) => last = e.to_string(),
        }
        tracing::warn!(
            attempt,
            "reading the group's committed offsets failed: {last}"
        );
        std::thread::sleep(Duration::from_millis(500 * u64::from(attempt)));
    }
    Err(last)
}

/// The per-partition errors of an offset-fetch answer, if any.
fn partition_errors(committed: &TopicPartitionList) -> Option<String> {
    let errors: Vec<String> = committed
        .elements()
        .iter()
        .filter_map(|e| {
            e.error()
                .err()
                .map(|err| format!("{}[{}]: {err}", e.topic(), e.partition()))
        })
        .collect();
    (!errors.is_empty()).then(|| errors.join(", "))
}

/// The first offsets at or after `epoch_ms` of the partitions `ids` (Kafka's offsets-for-times).
fn offsets_at<'a>(
    base: &BaseConsumer<SourceContext>,
    ids: impl Iterator<Item = &'a PartitionId>,
    epoch_ms: i64,
) -> Option<TopicPartitionList> {
    let mut by_time = TopicPartitionList::new();
    for id in ids {
        let _ = by_time.add_partition_offset(&id.topic, id.partition, Offset::Offset(epoch_ms));
    }
    if by_time.count() == 0 {
        return None;
    }
    base.offsets_for_times(by_time, BROKER_TIMEOUT).ok()
}
