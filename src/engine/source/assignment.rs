//! `Assignment`: the partitions this instance owns, with their trackers, their workers and
//! what was committed for them; commits and the end condition of `--stop-at-end`.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::rebalance::SourceContext;
use crate::engine::blocks::PartitionId;
use crate::engine::lease::{Epochs, Lease};
use crate::engine::metrics::Metrics;
use crate::engine::offsets::OffsetTracker;
use crate::engine::shared::PartitionStatus;

/// One owned partition.
pub(super) struct Assigned {
    pub tracker: Arc<OffsetTracker>,
    /// This assignment's epoch; revoked with the partition.
    pub lease: Arc<Lease>,
    /// Index of the worker that polls it.
    pub worker: usize,
    /// High watermark at assignment (for `--stop-at-end`).
    pub end: Option<i64>,
    /// The offset last committed (or found committed) for it.
    pub committed: Option<i64>,
}

#[derive(Default)]
pub(super) struct Assignment {
    partitions: Mutex<HashMap<PartitionId, Assigned>>,
    epochs: Epochs,
}

impl Assignment {
    pub(super) fn insert(&self, id: PartitionId, assigned: Assigned) {
        self.partitions.lock().insert(id, assigned);
    }

    /// A lease for a new assignment of `id`.
    pub(super) fn lease(&self, id: &PartitionId) -> Arc<Lease> {
        Arc::new(self.epochs.lease(id.clone()))
    }

    /// The partitions are no longer ours: their leases are revoked (nothing read under them
    /// loads any more) and they are forgotten.
    pub(super) fn revoke(&self, ids: &[PartitionId]) {
        let mut partitions = self.partitions.lock();
        for id in ids {
            if let Some(a) = partitions.remove(id) {
                a.lease.revoke();
            }
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.partitions.lock().is_empty()
    }

    /// The owned partitions among `ids`, with their workers.
    pub(super) fn owned(
        &self,
        ids: impl Iterator<Item = PartitionId>,
    ) -> Vec<(PartitionId, usize)> {
        let partitions = self.partitions.lock();
        ids.filter_map(|id| partitions.get(&id).map(|a| (id, a.worker)))
            .collect()
    }

    /// Every owned partition, with its worker.
    pub(super) fn all_owned(&self) -> Vec<(PartitionId, usize)> {
        let partitions = self.partitions.lock();
        partitions
            .iter()
            .map(|(id, a)| (id.clone(), a.worker))
            .collect()
    }

    /// The worker with the fewest partitions.
    pub(super) fn least_loaded_worker(&self, workers: usize) -> usize {
        let partitions = self.partitions.lock();
        (0..workers)
            .min_by_key(|&w| partitions.values().filter(|a| a.worker == w).count())
            .unwrap_or(0)
    }

    /// The committable offsets of `ids` whose rows are all loaded.
    pub(super) fn durable(&self, ids: &[PartitionId]) -> TopicPartitionList {
        let partitions = self.partitions.lock();
        let mut tpl = TopicPartitionList::new();
        for id in ids {
            if let Some(a) = partitions.get(id)
                && a.tracker.outstanding() == 0
                && let Some(o) = a.tracker.committable()
            {
                let _ = tpl.add_partition_offset(&id.topic, id.partition, Offset::Offset(o));
            }
        }
        tpl
    }

    /// Commits every partition whose committable offset moved.
    pub(super) fn commit(&self, consumer: &BaseConsumer<SourceContext>, metrics: &Metrics) {
        let mut partitions = self.partitions.lock();
        let mut tpl = TopicPartitionList::new();
        let mut moved = Vec::new();
        for (id, a) in partitions.iter() {
            if let Some(o) = a.tracker.committable()
                && a.committed.is_none_or(|c| o > c)
            {
                let _ = tpl.add_partition_offset(&id.topic, id.partition, Offset::Offset(o));
                moved.push((id.clone(), o));
            }
        }
        if tpl.count() == 0 {
            return;
        }
        match consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => {
                for (id, o) in moved {
                    metrics.committed(&id.topic, id.partition, o);
                    if let Some(a) = partitions.get_mut(&id) {
                        a.committed = Some(o);
                        a.tracker.set_committed(o);
                    }
                }
            }
            Err(e) => tracing::warn!("offset commit failed (will retry): {e}"),
        }
    }

    /// Every owned partition was read up to its end (none owned counts too: the end is then
    /// up to the group's other members).
    pub(super) fn owned_at_end(&self) -> bool {
        self.partitions.lock().values().all(|a| match a.end {
            Some(end) => a.tracker.next().or(a.committed).is_some_and(|n| n >= end),
            None => false,
        })
    }

    /// The owned partitions, for `/status`.
    pub(super) fn status(&self) -> Vec<PartitionStatus> {
        let mut out: Vec<PartitionStatus> = self
            .partitions
            .lock()
            .iter()
            .map(|(id, a)| PartitionStatus {
                topic: id.topic.to_string(),
                partition: id.partition,
                epoch: a.lease.epoch(),
                committed: a.committed,
                next: a.tracker.next(),
                outstanding: a.tracker.outstanding(),
            })
            .collect();
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        out
    }

    /// Messages between what was read and the end at assignment, over all partitions.
    pub(super) fn lag(&self) -> i64 {
        self.partitions
            .lock()
            .values()
            .map(|a| match (a.end, a.tracker.next()) {
                (Some(e), Some(n)) => (e - n).max(0),
                _ => 0,
            })
            .sum()
    }
}
