//! The consumer group's position on its topics, read and reset without joining the group:
//! committed offsets, the timestamps of the messages at them, log start and end offsets, the
//! group's state and live members (`starpipe position show`), and offsets reset to a
//! [`StartFrom`] target (`starpipe position reset`, and `starpipe prepare` before a rerun).
//!
//! Everything is synchronous rdkafka: a `BaseConsumer` with the job's `group.id` that never
//! subscribes, so it reads and commits the group's offsets as a member-less client. Kafka's
//! coordinator accepts such commits only while the group has no members; [`Group::commit`]
//! refuses earlier, with the members named, as `kafka-consumer-groups --reset-offsets` does.

mod assignment;
mod cluster;
mod peek;

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde::Serialize;

pub use cluster::Cluster;

use crate::config::{SourceConfig, StartFrom};

/// One partition of a topic.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Partition {
    pub topic: String,
    pub partition: i32,
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}

/// Where the group stands on one partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionPosition {
    #[serde(flatten)]
    pub partition: Partition,
    /// The group's committed offset (the next message it reads); `None` before its first
    /// commit.
    pub committed: Option<i64>,
    /// Timestamp of the message at the committed offset; `None` without a commit, when the
    /// commit is at the end, or when no message at or after it could be read.
    #[serde(serialize_with = "rfc3339")]
    pub committed_timestamp: Option<jiff::Timestamp>,
    /// The first offset still in the log.
    pub log_start: i64,
    /// The offset the next produced message gets (high watermark).
    pub end: i64,
    /// `end - committed`; `None` without a commit.
    pub lag: Option<i64>,
}

fn rfc3339<S: serde::Serializer>(t: &Option<jiff::Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.collect_str(t),
        None => s.serialize_none(),
    }
}

/// The group as the coordinator describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupStatus {
    /// `Empty`, `Stable`, `PreparingRebalance`, `CompletingRebalance`, or `Dead` (also for a
    /// group the coordinator does not know, i.e. one that never committed).
    pub state: String,
    pub members: Vec<Member>,
}

impl GroupStatus {
    /// Whether offsets may be committed now: no live member, and not in a rebalance. A state
    /// the coordinator did not give (DescribeGroups answered with an error) is not inactive.
    pub fn is_inactive(&self) -> bool {
        self.members.is_empty() && matches!(self.state.as_str(), "Empty" | "Dead")
    }
}

/// `state Stable, 1 live member(s): rdkafka at /10.0.0.7`, as the errors that refuse a reset
/// say it.
impl fmt::Display for GroupStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.state.is_empty() {
            "unknown"
        } else {
            &self.state
        };
        if self.members.is_empty() {
            return write!(f, "state {state}, no live member");
        }
        write!(f, "state {state}, {} live member(s): ", self.members.len())?;
        for (i, m) in self.members.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{} at {}", m.client_id, m.host)?;
        }
        Ok(())
    }
}

/// A live member of the group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub member_id: String,
    pub client_id: String,
    /// As the coordinator reports it, e.g. `/10.0.0.7`.
    pub host: String,
    /// The partitions assigned to it (empty while a rebalance is under way, or when the
    /// assignment is not in Kafka's consumer protocol format).
    pub assignment: Vec<Partition>,
}

/// One partition's committed offset before and after a reset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OffsetChange {
    #[serde(flatten)]
    pub partition: Partition,
    /// The committed offset now; `None` when the group never committed this partition.
    pub current: Option<i64>,
    /// The offset the reset commits.
    pub new: i64,
}

/// The brokers did not answer a metadata request within the timeout.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read metadata from brokers {brokers}: {error}{}",
    last_failure.as_ref().map(|f| format!(" (last broker failure: {f})")).unwrap_or_default()
)]
pub struct Unanswered {
    pub brokers: String,
    pub error: KafkaError,
    /// librdkafka's last broker failure (its `FAIL` log line), which says why.
    pub last_failure: Option<String>,
}

/// Why the group's position could not be read or reset.
#[derive(Debug, thiserror::Error)]
pub enum PositionError {
    #[error("cannot create a Kafka client: {0}")]
    Client(KafkaError),
    #[error("cannot read the messages at the committed offsets: {0}")]
    Peek(KafkaError),
    /// Boxed: with the last broker failure it would make every `Result` of this error (and of
    /// `CheckError`, which holds it) large.
    #[error("{0}")]
    Metadata(Box<Unanswered>),
    /// The brokers refused the job's SASL credentials or TLS settings (retrying cannot help).
    #[error("brokers {brokers} refused the connection: {reason}")]
    Refused { brokers: String, reason: String },
    #[error("topic {0} does not exist")]
    UnknownTopic(String),
    #[error("topic {topic}: {message}")]
    TopicError { topic: String, message: String },
    #[error("topic pattern {pattern} is not a valid regular expression: {error}")]
    BadPattern {
        pattern: String,
        error: regex::Error,
    },
    #[error("no topic matches {0}")]
    NoMatch(String),
    #[error("cannot read the log start and end offsets of {partition}: {error}")]
    Watermarks {
        partition: Partition,
        error: KafkaError,
    },
    #[error("cannot read the committed offsets of group {group}: {error}")]
    Committed { group: String, error: KafkaError },
    #[error("cannot look up offsets by timestamp: {0}")]
    OffsetsForTimes(KafkaError),
    #[error("cannot look up the offset of {partition} at {at}: {message}")]
    OffsetForTime {
        partition: Partition,
        at: StartFrom,
        message: String,
    },
    #[error("cannot describe group {group}: {error}")]
    Describe { group: String, error: KafkaError },
    #[error(
        "group {group} is active ({status}); offsets can only be reset while the group is \
         inactive: stop every consumer of the group first"
    )]
    GroupActive { group: String, status: GroupStatus },
    /// DescribeGroups kept answering with an error: the group may have live members.
    #[error(
        "cannot tell whether group {group} is active: its coordinator did not describe it \
         within the timeout, so the offsets were not committed: try again"
    )]
    GroupUnknown { group: String },
    #[error("committing offsets for group {group} failed: {error}")]
    Commit { group: String, error: KafkaError },
}

/// Resets the job's group (`source.consumerGroupId`) on every partition of `topics` (each a
/// topic or a `^…` pattern, e.g. `&source.topics`) to `to` — what `starpipe position reset
/// --yes` does, and what a rerun needs to start from `source.startFrom` again. Refused with
/// [`PositionError::GroupActive`] while the group has live members. Returns what changed.
pub fn reset_group(
    source: &SourceConfig,
    topics: &[String],
    to: StartFrom,
    timeout: Duration,
) -> Result<Vec<OffsetChange>, PositionError> {
    let group = Group::open(source, timeout)?;
    let partitions = group.cluster().partitions(topics)?;
    group.reset(&partitions, to)
}

/// The job's consumer group on its cluster, used from outside the group.
pub struct Group {
    id: String,
    cluster: Cluster,
    /// Carries the job's `group.id`; never subscribes.
    consumer: BaseConsumer,
}

impl Group {
    /// A client for `source.consumerGroupId` on `source.brokers` (with `[source.kafka]`). It
    /// connects lazily; every call waits at most `timeout` for the brokers.
    pub fn open(source: &SourceConfig, timeout: Duration) -> Result<Group, PositionError> {
        let cluster = Cluster::connect(source, timeout)?;
        let mut cc = crate::kafka::client_config(source);
        cc.set("group.id", &source.consumer_group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        let consumer: BaseConsumer = cc.create().map_err(PositionError::Client)?;
        Ok(Group {
            id: source.consumer_group_id.clone(),
            cluster,
            consumer,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The cluster the group lives on (metadata, log offsets).
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Committed offsets, the timestamps of the messages at them, log start, end and lag.
    pub fn positions(
        &self,
        partitions: &[Partition],
    ) -> Result<Vec<PartitionPosition>, PositionError> {
        let committed = self.committed(partitions)?;
        let mut out = Vec::with_capacity(partitions.len());
        for (p, committed) in partitions.iter().zip(committed) {
            let (log_start, end) = self.cluster.watermarks(p)?;
            out.push(PartitionPosition {
                partition: p.clone(),
                committed,
                committed_timestamp: None,
                log_start,
                end,
                lag: committed.map(|c| (end - c).max(0)),
            });
        }
        let wanted: Vec<(Partition, i64)> = out
            .iter()
            .filter_map(|p| {
                let c = p.committed?;
                (c >= p.log_start && c < p.end).then(|| (p.partition.clone(), c))
            })
            .collect();
        let times = self.cluster.timestamps(&wanted)?;
        for p in &mut out {
            p.committed_timestamp = times.get(&p.partition).copied();
        }
        Ok(out)
    }

    /// The group's state and live members.
    pub fn status(&self) -> Result<GroupStatus, PositionError> {
        self.cluster.group_status(&self.id)
    }

    /// What resetting `partitions` to `to` would commit: per partition the first offset at or
    /// after the instant (past the last message: the end offset), the log start for
    /// `earliest`, the end offset for `latest`. Changes nothing.
    pub fn plan_reset(
        &self,
        partitions: &[Partition],
        to: StartFrom,
    ) -> Result<Vec<OffsetChange>, PositionError> {
        let current = self.committed(partitions)?;
        let new = self.cluster.offsets(partitions, to)?;
        Ok(partitions
            .iter()
            .zip(current.into_iter().zip(new))
            .map(|(p, (current, new))| OffsetChange {
                partition: p.clone(),
                current,
                new,
            })
            .collect())
    }

    /// Commits `changes` for the group, refusing while it has live members (or is in a
    /// rebalance). The coordinator refuses a member-less commit to an active group too, so a
    /// consumer that joins in between is not overridden.
    pub fn commit(&self, changes: &[OffsetChange]) -> Result<(), PositionError> {
        let status = self.status()?;
        if status.state.is_empty() {
            return Err(PositionError::GroupUnknown {
                group: self.id.clone(),
            });
        }
        if !status.is_inactive() {
            return Err(PositionError::GroupActive {
                group: self.id.clone(),
                status,
            });
        }
        let commit = |error| PositionError::Commit {
            group: self.id.clone(),
            error,
        };
        let mut tpl = TopicPartitionList::new();
        for c in changes {
            tpl.add_partition_offset(
                &c.partition.topic,
                c.partition.partition,
                Offset::Offset(c.new),
            )
            .map_err(commit)?;
        }
        self.while_coordinator_moves(|| self.consumer.commit(&tpl, CommitMode::Sync))
            .map_err(commit)
    }

    /// [`Group::plan_reset`] then [`Group::commit`]: resets the group's committed offsets of
    /// `partitions` to `to`. Returns what changed.
    pub fn reset(
        &self,
        partitions: &[Partition],
        to: StartFrom,
    ) -> Result<Vec<OffsetChange>, PositionError> {
        let changes = self.plan_reset(partitions, to)?;
        self.commit(&changes)?;
        Ok(changes)
    }

    /// The group's committed offset of each partition (`None` where it never committed).
    pub fn committed(&self, partitions: &[Partition]) -> Result<Vec<Option<i64>>, PositionError> {
        let mut tpl = TopicPartitionList::new();
        for p in partitions {
            tpl.add_partition(&p.topic, p.partition);
        }
        let found = self
            .while_coordinator_moves(|| {
                self.consumer
                    .committed_offsets(tpl.clone(), self.cluster.timeout())
            })
            .map_err(|error| PositionError::Committed {
                group: self.id.clone(),
                error,
            })?;
        let elements = found.elements();
        let by_partition: HashMap<(&str, i32), i64> = elements
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some(((e.topic(), e.partition()), o)),
                _ => None,
            })
            .collect();
        Ok(partitions
            .iter()
            .map(|p| by_partition.get(&(p.topic.as_str(), p.partition)).copied())
            .collect())
    }

    /// Runs `op` again while the group's coordinator is not ready, within the timeout: on a
    /// fresh cluster the first group creates `__consumer_offsets` and the broker answers
    /// NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS until its leader is elected; a moving
    /// coordinator answers the same. Kafka's protocol calls these retriable.
    fn while_coordinator_moves<T>(&self, mut op: impl FnMut() -> KafkaResult<T>) -> KafkaResult<T> {
        let deadline = Instant::now() + self.cluster.timeout();
        loop {
            match op() {
                Err(e) if Instant::now() < deadline && coordinator_moves(&e) => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                result => return result,
            }
        }
    }
}

/// The group coordinator is not ready (loading, moving, not elected yet): Kafka's protocol
/// calls these retriable.
fn coordinator_moves(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(C::NotCoordinator | C::CoordinatorLoadInProgress | C::CoordinatorNotAvailable)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: &str, members: usize) -> GroupStatus {
        let member = |i| Member {
            member_id: format!("rdkafka-{i}"),
            client_id: "rdkafka".into(),
            host: format!("/10.0.0.{i}"),
            assignment: Vec::new(),
        };
        GroupStatus {
            state: state.into(),
            members: (0..members).map(member).collect(),
        }
    }

    #[test]
    fn only_an_empty_or_dead_group_without_members_is_inactive() {
        assert!(status("Empty", 0).is_inactive());
        assert!(status("Dead", 0).is_inactive());
        assert!(!status("Stable", 1).is_inactive());
        assert!(!status("PreparingRebalance", 0).is_inactive());
        // DescribeGroups answered with an error: no state, nothing known.
        assert!(!status("", 0).is_inactive());
    }

    #[test]
    fn a_status_names_its_state_and_members() {
        assert_eq!(
            status("Stable", 2).to_string(),
            "state Stable, 2 live member(s): rdkafka at /10.0.0.0, rdkafka at /10.0.0.1"
        );
        assert_eq!(status("", 0).to_string(), "state unknown, no live member");
    }
}
