//! The timestamps of the messages at given offsets: a consumer outside any group assigns the
//! partitions at those offsets and reads one message from each.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::{Partition, PositionError};
use crate::config::SourceConfig;

/// The `group.id` of the reading consumer.
const PEEK_GROUP: &str = "starpipe-position-peek";

/// Per partition, the timestamp of the first message at or after its offset (compaction or a
/// transaction marker may leave no message at the offset itself). Partitions that yield no
/// message within `timeout` are absent.
pub(super) fn timestamps(
    source: &SourceConfig,
    at: &[(Partition, i64)],
    timeout: Duration,
) -> Result<HashMap<Partition, jiff::Timestamp>, PositionError> {
    if at.is_empty() {
        return Ok(HashMap::new());
    }
    let mut cc = crate::kafka::client_config(source);
    // librdkafka assigns partitions only with a `group.id`; this one is never joined (assign
    // does not join), never committed to, and is not the job's. An offset that vanished
    // meanwhile must not be read from elsewhere.
    cc.set("group.id", PEEK_GROUP)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "error")
        .set("enable.partition.eof", "false");
    let consumer: BaseConsumer = cc.create().map_err(PositionError::Client)?;
    {
        let mut tpl = TopicPartitionList::new();
        for (p, offset) in at {
            tpl.add_partition_offset(&p.topic, p.partition, Offset::Offset(*offset))
                .map_err(PositionError::Peek)?;
        }
        consumer.assign(&tpl).map_err(PositionError::Peek)?;
        // The list is dropped here, before the consumer: librdkafka keeps references to it.
    }
    // A message without a timestamp (message format v0) still ends the wait for its partition.
    let mut seen: HashMap<Partition, Option<jiff::Timestamp>> = HashMap::new();
    let deadline = Instant::now() + timeout;
    while seen.len() < at.len() && Instant::now() < deadline {
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let key = Partition {
            topic: m.topic().to_string(),
            partition: m.partition(),
        };
        let at = m
            .timestamp()
            .to_millis()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok());
        seen.entry(key).or_insert(at);
    }
    let _ = consumer.unassign();
    Ok(seen
        .into_iter()
        .filter_map(|(p, t)| Some((p, t?)))
        .collect())
}
