//! `--stop-at-end`: where "the end" is, and when it is reached. The end is the end offset of
//! every partition of the subscription, captured when the run starts; it is reached when the
//! group has committed every one of them — whichever instance loaded it. What this instance
//! happens to own at a moment says nothing: between a revocation and the next assignment it
//! owns nothing, and other instances may hold the rest.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::rebalance::SourceContext;
use crate::engine::blocks::PartitionId;

const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// One partition's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PartitionEnd {
    pub partition: PartitionId,
    /// The log start offset at start: a partition with nothing between start and end needs no
    /// commit.
    pub start: i64,
    /// The end (high watermark) at start.
    pub end: i64,
}

/// The end of every partition of the subscription.
#[derive(Debug, Clone, Default)]
pub(super) struct EndOffsets {
    ends: Vec<PartitionEnd>,
}

impl EndOffsets {
    /// Reads every partition of `topics` and its watermarks.
    pub(super) fn capture(
        consumer: &BaseConsumer<SourceContext>,
        topics: &[String],
    ) -> Result<EndOffsets, rdkafka::error::KafkaError> {
        let mut ends = Vec::new();
        for topic in topics {
            let metadata = consumer.fetch_metadata(Some(topic), BROKER_TIMEOUT)?;
            for t in metadata.topics() {
                for p in t.partitions() {
                    let (start, end) = consumer.fetch_watermarks(topic, p.id(), BROKER_TIMEOUT)?;
                    ends.push(PartitionEnd {
                        partition: PartitionId::new(topic, p.id()),
                        start,
                        end,
                    });
                }
            }
        }
        Ok(EndOffsets { ends })
    }

    /// The end of `partition`, if it is part of the subscription.
    pub(super) fn end_of(&self, partition: &PartitionId) -> Option<i64> {
        self.ends
            .iter()
            .find(|e| e.partition == *partition)
            .map(|e| e.end)
    }

    /// Whether the group committed every partition to its end. A failed look-up is "not yet".
    pub(super) fn committed_by_group(&self, consumer: &BaseConsumer<SourceContext>) -> bool {
        let mut tpl = TopicPartitionList::new();
        for e in &self.ends {
            tpl.add_partition(&e.partition.topic, e.partition.partition);
        }
        let Ok(committed) = consumer.committed_offsets(tpl, BROKER_TIMEOUT) else {
            return false;
        };
        self.ends.iter().all(|e| {
            let found = committed
                .find_partition(&e.partition.topic, e.partition.partition)
                .map(|c| c.offset());
            let offset = match found {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            };
            reached(e, offset)
        })
    }
}

/// Whether a partition whose committed offset is `committed` is done.
fn reached(end: &PartitionEnd, committed: Option<i64>) -> bool {
    match committed {
        Some(c) => c >= end.end,
        None => end.end <= end.start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(start: i64, end: i64) -> PartitionEnd {
        PartitionEnd {
            partition: PartitionId::new("t", 0),
            start,
            end,
        }
    }

    #[test]
    fn a_partition_is_done_when_committed_to_its_end() {
        assert!(reached(&end(0, 10), Some(10)));
        assert!(
            reached(&end(0, 10), Some(12)),
            "messages arrived after the start"
        );
        assert!(!reached(&end(0, 10), Some(9)));
        assert!(!reached(&end(0, 10), None), "rows nobody committed");
        assert!(
            reached(&end(0, 0), None),
            "an empty partition needs no commit"
        );
        assert!(reached(&end(7, 7), None), "retention removed everything");
    }
}
