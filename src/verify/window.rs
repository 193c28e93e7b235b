//! The topic window `verify` reads: per partition an offset range `[from, to)` resolved from
//! `--from` / `--to`, and the reading itself with a consumer outside the job's group.
//!
//! The reader assigns the partitions (no subscription, no group membership) under a group id of
//! its own and never commits, so the job's committed offsets are untouched whatever happens.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::VerifyError;
use crate::config::{SourceConfig, StartFrom};
use crate::position::{Cluster, Group, Partition};

/// The `group.id` of the reading consumer: librdkafka assigns partitions only with one. It is
/// never joined and never committed to.
const READER_GROUP: &str = "starpipe-verify-reader";

/// How long the reader waits for a partition that yields neither a message nor its end.
const STALL: Duration = Duration::from_secs(60);

/// `--from`: where the window starts on every partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowStart {
    /// The log start offset.
    Earliest,
    /// The job group's committed offset (the log start where it never committed).
    Committed,
    /// The first message at or after this instant (Kafka's offsets-for-times).
    At(jiff::Timestamp),
}

/// `--to`: where the window ends on every partition (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowEnd {
    /// The end offset (high watermark) when `verify` starts.
    End,
    /// The first message at or after this instant is the first one outside the window.
    At(jiff::Timestamp),
}

impl FromStr for WindowStart {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "earliest" => Ok(WindowStart::Earliest),
            "committed" => Ok(WindowStart::Committed),
            _ => timestamp(s, "`earliest`, `committed`").map(WindowStart::At),
        }
    }
}

impl FromStr for WindowEnd {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "end" => Ok(WindowEnd::End),
            _ => timestamp(s, "`end`").map(WindowEnd::At),
        }
    }
}

fn timestamp(s: &str, words: &str) -> Result<jiff::Timestamp, String> {
    s.parse::<jiff::Timestamp>().map_err(|_| {
        format!(
            "expected {words} or an RFC 3339 timestamp with an offset (e.g. \
             2024-06-01T00:00:00Z), got `{s}`"
        )
    })
}

impl fmt::Display for WindowStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowStart::Earliest => f.write_str("earliest"),
            WindowStart::Committed => f.write_str("committed"),
            WindowStart::At(t) => write!(f, "{t}"),
        }
    }
}

impl fmt::Display for WindowEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowEnd::End => f.write_str("end"),
            WindowEnd::At(t) => write!(f, "{t}"),
        }
    }
}

/// One partition's part of the window: offsets `from..to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Range {
    pub partition: Partition,
    pub from: i64,
    pub to: i64,
}

/// The window of `source.topics` between `start` and `end`, per partition.
pub(crate) fn resolve(
    source: &SourceConfig,
    start: WindowStart,
    end: WindowEnd,
    timeout: Duration,
) -> Result<Vec<Range>, VerifyError> {
    let cluster = Cluster::connect(source, timeout)?;
    let partitions = cluster.partitions(&source.topics)?;
    let from = match start {
        WindowStart::Earliest => cluster.offsets(&partitions, StartFrom::Earliest)?,
        WindowStart::At(t) => cluster.offsets(&partitions, at(t))?,
        WindowStart::Committed => committed(source, &cluster, &partitions, timeout)?,
    };
    let to = match end {
        WindowEnd::End => cluster.offsets(&partitions, StartFrom::Latest)?,
        WindowEnd::At(t) => cluster.offsets(&partitions, at(t))?,
    };
    Ok(partitions
        .into_iter()
        .zip(from.into_iter().zip(to))
        .map(|(partition, (from, to))| Range {
            partition,
            from: from.min(to),
            to,
        })
        .collect())
}

/// The ranges from each range's end to the partition's end offset now (the second pass).
pub(crate) fn continuation(
    source: &SourceConfig,
    after: &[Range],
    timeout: Duration,
) -> Result<Vec<Range>, VerifyError> {
    let cluster = Cluster::connect(source, timeout)?;
    let partitions: Vec<Partition> = after.iter().map(|r| r.partition.clone()).collect();
    let ends = cluster.offsets(&partitions, StartFrom::Latest)?;
    Ok(after
        .iter()
        .zip(ends)
        .map(|(r, end)| Range {
            partition: r.partition.clone(),
            from: r.to,
            to: end.max(r.to),
        })
        .collect())
}

fn at(t: jiff::Timestamp) -> StartFrom {
    StartFrom::Timestamp {
        epoch_ms: t.as_millisecond(),
    }
}

fn committed(
    source: &SourceConfig,
    cluster: &Cluster,
    partitions: &[Partition],
    timeout: Duration,
) -> Result<Vec<i64>, VerifyError> {
    let group = Group::open(source, timeout)?;
    let committed = group.committed(partitions)?;
    let starts = cluster.offsets(partitions, StartFrom::Earliest)?;
    Ok(committed
        .into_iter()
        .zip(starts)
        .map(|(c, start)| c.unwrap_or(start).max(start))
        .collect())
}

/// One record of the window.
pub(crate) struct Record<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    /// The value; empty for a tombstone.
    pub value: &'a [u8],
}

/// Reads every record of `ranges`, in offset order per partition, handing each to `sink`.
/// Returns the number of records read.
pub(crate) fn read(
    source: &SourceConfig,
    ranges: &[Range],
    sink: &mut dyn FnMut(&Record<'_>) -> Result<(), VerifyError>,
) -> Result<u64, VerifyError> {
    let mut pending: Vec<&Range> = ranges.iter().filter(|r| r.from < r.to).collect();
    if pending.is_empty() {
        return Ok(0);
    }
    let consumer = reader(source, &pending)?;
    let mut records = 0u64;
    let mut last_progress = Instant::now();
    while !pending.is_empty() {
        if last_progress.elapsed() > STALL {
            return Err(VerifyError::Stalled {
                partitions: pending.iter().map(|r| r.partition.to_string()).collect(),
                waited: STALL,
            });
        }
        let message = match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Ok(m)) => m,
            Some(Err(KafkaError::PartitionEOF(p))) => {
                last_progress = Instant::now();
                finish_at_eof(&consumer, &mut pending, p);
                continue;
            }
            Some(Err(e)) if fatal(&e) => return Err(VerifyError::Read(e)),
            Some(Err(e)) => {
                // librdkafka reconnects by itself; a lasting outage ends in `Stalled`.
                tracing::warn!("reading the topic window: {e}");
                continue;
            }
        };
        last_progress = Instant::now();
        records += take(&consumer, &mut pending, &message, sink)?;
    }
    drop(consumer);
    Ok(records)
}

/// Hands `message` to `sink` if it is inside its partition's range (1 then, else 0), and
/// finishes the range at its last offset.
fn take(
    consumer: &BaseConsumer,
    pending: &mut Vec<&Range>,
    message: &BorrowedMessage<'_>,
    sink: &mut dyn FnMut(&Record<'_>) -> Result<(), VerifyError>,
) -> Result<u64, VerifyError> {
    let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
    let Some(range) = pending
        .iter()
        .find(|r| r.partition.topic == topic && r.partition.partition == partition)
    else {
        return Ok(0);
    };
    let inside = offset < range.to;
    if inside {
        sink(&Record {
            topic,
            partition,
            offset,
            value: message.payload().unwrap_or(&[]),
        })?;
    }
    if offset + 1 >= range.to {
        finish(consumer, pending, topic, partition);
    }
    Ok(u64::from(inside))
}

/// Whether a consume error means the window cannot be read as resolved: an offset that
/// vanished (retention ran meanwhile; `auto.offset.reset` is `error`), or a topic or partition
/// that is gone or not readable. Transport errors are not: librdkafka retries them.
fn fatal(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::AutoOffsetReset
                | C::OffsetOutOfRange
                | C::UnknownTopicOrPartition
                | C::UnknownPartition
                | C::UnknownTopic
                | C::TopicAuthorizationFailed
                | C::GroupAuthorizationFailed
        )
    )
}

/// The range of `topic[p]` reached its end: pause the partition.
fn finish(consumer: &BaseConsumer, pending: &mut Vec<&Range>, topic: &str, p: i32) {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, p);
    let _ = consumer.pause(&tpl);
    drop(tpl);
    pending.retain(|r| !(r.partition.partition == p && r.partition.topic == topic));
}

/// A partition numbered `p` reached the end of its log, which is at or past its range's end
/// (librdkafka names only the number): finishes the ranges numbered `p` whose position is at
/// or past their end.
fn finish_at_eof(consumer: &BaseConsumer, pending: &mut Vec<&Range>, p: i32) {
    let Ok(positions) = consumer.position() else {
        return;
    };
    let done: Vec<String> = pending
        .iter()
        .filter(|r| r.partition.partition == p)
        .filter(|r| {
            positions
                .find_partition(&r.partition.topic, p)
                .is_some_and(|e| matches!(e.offset(), Offset::Offset(o) if o >= r.to))
        })
        .map(|r| r.partition.topic.clone())
        .collect();
    drop(positions);
    for topic in done {
        finish(consumer, pending, &topic, p);
    }
}

fn reader(source: &SourceConfig, ranges: &[&Range]) -> Result<BaseConsumer, VerifyError> {
    let mut cc = crate::kafka::client_config(source);
    // A vanished offset (retention ran meanwhile) must fail the read, not skip messages.
    cc.set("group.id", READER_GROUP)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "error")
        .set("enable.partition.eof", "true");
    let consumer: BaseConsumer = cc.create().map_err(VerifyError::Read)?;
    {
        let mut tpl = TopicPartitionList::new();
        for r in ranges {
            tpl.add_partition_offset(
                &r.partition.topic,
                r.partition.partition,
                Offset::Offset(r.from),
            )
            .map_err(VerifyError::Read)?;
        }
        consumer.assign(&tpl).map_err(VerifyError::Read)?;
        // Dropped before the consumer: librdkafka keeps references to the list.
    }
    Ok(consumer)
}
