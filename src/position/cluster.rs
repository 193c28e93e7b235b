//! `Cluster`: what the brokers say about topics and groups, read with a consumer outside any
//! group — metadata, log start and end offsets, offsets for timestamps, group descriptions.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::MetadataTopic;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::{GroupStatus, Member, Partition, PositionError, assignment, peek};
use crate::config::{SourceConfig, StartFrom};
use crate::kafka::FailureWatch;

/// How long one metadata round waits before looking for a refusal.
const REFUSAL_POLL: Duration = Duration::from_millis(500);
/// Queued client events served after a metadata round.
const EVENTS_PER_ROUND: usize = 256;

/// The job's Kafka cluster.
pub struct Cluster {
    brokers: String,
    /// No `group.id`: closing it never waits for a group coordinator, even with the brokers
    /// gone. Its context keeps librdkafka's last broker failure.
    consumer: BaseConsumer<FailureWatch>,
    source: SourceConfig,
    /// Bound on every broker round trip.
    timeout: Duration,
}

impl Cluster {
    /// A client for `source.brokers` (with `[source.kafka]`); it connects lazily, and every
    /// call waits at most `timeout` for the brokers.
    pub fn connect(source: &SourceConfig, timeout: Duration) -> Result<Cluster, PositionError> {
        let mut cc = crate::kafka::client_config(source);
        cc.set("enable.auto.commit", "false");
        let consumer: BaseConsumer<FailureWatch> = cc
            .create_with_context(FailureWatch::default())
            .map_err(PositionError::Client)?;
        Ok(Cluster {
            brokers: source.brokers.clone(),
            consumer,
            source: source.clone(),
            timeout,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The number of brokers the cluster's metadata lists: proves the bootstrap servers answer
    /// (API versions, then metadata) with the job's client settings.
    pub fn brokers(&self) -> Result<usize, PositionError> {
        let metadata = self.metadata()?;
        Ok(metadata.brokers().len())
    }

    /// Every partition of `topics`, in topic then partition order. A topic starting with `^`
    /// is a regular expression (as in `source.topics`, where librdkafka subscribes to every
    /// matching topic).
    pub fn partitions(&self, topics: &[String]) -> Result<Vec<Partition>, PositionError> {
        let metadata = self.metadata()?;
        let known: HashMap<&str, &MetadataTopic> =
            metadata.topics().iter().map(|t| (t.name(), t)).collect();
        let mut names: Vec<&str> = Vec::new();
        for topic in topics {
            names.extend(matching(topic, &known)?);
        }
        names.sort_unstable();
        names.dedup();
        let mut out = Vec::new();
        for name in names {
            let t = known[name];
            if let Some(e) = t.error() {
                return Err(PositionError::TopicError {
                    topic: name.to_string(),
                    message: rdkafka::error::RDKafkaErrorCode::from(e).to_string(),
                });
            }
            let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
            ids.sort_unstable();
            out.extend(ids.into_iter().map(|partition| Partition {
                topic: name.to_string(),
                partition,
            }));
        }
        Ok(out)
    }

    /// Log start and end offset of `p`.
    pub fn watermarks(&self, p: &Partition) -> Result<(i64, i64), PositionError> {
        self.consumer
            .fetch_watermarks(&p.topic, p.partition, self.timeout)
            .map_err(|error| PositionError::Watermarks {
                partition: p.clone(),
                error,
            })
    }

    /// The offset `to` means for each partition: the log start (`earliest`), the end offset
    /// (`latest`), or Kafka's offsets-for-times (the first message at or after the instant;
    /// the end offset when there is none).
    pub fn offsets(
        &self,
        partitions: &[Partition],
        to: StartFrom,
    ) -> Result<Vec<i64>, PositionError> {
        match to {
            StartFrom::Timestamp { epoch_ms } => self.offsets_at(partitions, epoch_ms, to),
            StartFrom::Earliest => partitions
                .iter()
                .map(|p| Ok(self.watermarks(p)?.0))
                .collect(),
            StartFrom::Latest => partitions
                .iter()
                .map(|p| Ok(self.watermarks(p)?.1))
                .collect(),
        }
    }

    /// The state and live members of consumer group `group`.
    pub fn group_status(&self, group: &str) -> Result<GroupStatus, PositionError> {
        // A loading or moving coordinator fails the request or describes the group with an
        // error and no state; both are asked again within the timeout, as offsets are.
        use rdkafka::types::RDKafkaErrorCode as C;
        let deadline = std::time::Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let retriable = match self.describe_group(group, left) {
                Ok(status) if !status.state.is_empty() => return Ok(status),
                Ok(status) => Ok(status),
                Err(error)
                    if super::coordinator_moves(&error)
                        || matches!(
                            error.rdkafka_error_code(),
                            Some(C::RequestTimedOut | C::OperationTimedOut)
                        ) =>
                {
                    Err(error)
                }
                Err(error) => return Err(describe_error(group, error)),
            };
            // Too little time for another answer: the last one says why.
            let pause = std::time::Duration::from_millis(200);
            if deadline.saturating_duration_since(std::time::Instant::now()) <= pause {
                return retriable.map_err(|error| describe_error(group, error));
            }
            std::thread::sleep(pause);
        }
    }

    fn describe_group(
        &self,
        group: &str,
        timeout: std::time::Duration,
    ) -> Result<GroupStatus, rdkafka::error::KafkaError> {
        let list = self.consumer.fetch_group_list(Some(group), timeout)?;
        let Some(info) = list.groups().iter().find(|g| g.name() == group) else {
            return Ok(GroupStatus {
                state: "Dead".into(),
                members: Vec::new(),
            });
        };
        let members = info
            .members()
            .iter()
            .map(|m| Member {
                member_id: m.id().to_string(),
                client_id: m.client_id().to_string(),
                host: m.client_host().to_string(),
                assignment: m
                    .assignment()
                    .and_then(assignment::decode)
                    .unwrap_or_default(),
            })
            .collect();
        Ok(GroupStatus {
            state: info.state().to_string(),
            members,
        })
    }

    /// Per partition, the timestamp of the message at (or first after) the given offset.
    pub(super) fn timestamps(
        &self,
        at: &[(Partition, i64)],
    ) -> Result<HashMap<Partition, jiff::Timestamp>, PositionError> {
        peek::timestamps(&self.source, at, self.timeout)
    }

    /// The cluster's metadata, asked in short rounds within the timeout: a broker that refuses
    /// the job's credentials or TLS settings ends the wait at once ([`PositionError::Refused`]).
    fn metadata(&self) -> Result<rdkafka::metadata::Metadata, PositionError> {
        let deadline = std::time::Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let error = match self.consumer.fetch_metadata(None, left.min(REFUSAL_POLL)) {
                Ok(m) => return Ok(m),
                Err(e) => e,
            };
            self.serve_events();
            if let Some(reason) = self.consumer.context().refusal() {
                return Err(PositionError::Refused {
                    brokers: self.brokers.clone(),
                    reason,
                });
            }
            if std::time::Instant::now() >= deadline {
                return Err(PositionError::Metadata(Box::new(super::Unanswered {
                    brokers: self.brokers.clone(),
                    error,
                    last_failure: self.consumer.context().last(),
                })));
            }
        }
    }

    /// Serves the client's queued events — librdkafka's log lines (its broker failures among
    /// them) and errors — so that the context sees them. Without a `group.id` the consumer
    /// polls the main queue and is assigned nothing: no message is taken.
    fn serve_events(&self) {
        // `poll` answers `None` for "no event" and for "an event served" alike: ask a bounded
        // number of times (each ask returns at once).
        for _ in 0..EVENTS_PER_ROUND {
            let _ = self.consumer.poll(Duration::ZERO);
        }
    }

    fn offsets_at(
        &self,
        partitions: &[Partition],
        epoch_ms: i64,
        to: StartFrom,
    ) -> Result<Vec<i64>, PositionError> {
        let mut tpl = TopicPartitionList::new();
        for p in partitions {
            tpl.add_partition_offset(&p.topic, p.partition, Offset::Offset(epoch_ms))
                .map_err(PositionError::OffsetsForTimes)?;
        }
        let found = self
            .consumer
            .offsets_for_times(tpl, self.timeout)
            .map_err(PositionError::OffsetsForTimes)?;
        let mut out = Vec::with_capacity(partitions.len());
        for p in partitions {
            let failed = |message: String| PositionError::OffsetForTime {
                partition: p.clone(),
                at: to,
                message,
            };
            let elem = found
                .find_partition(&p.topic, p.partition)
                .ok_or_else(|| failed("no answer for the partition".into()))?;
            elem.error().map_err(|e| failed(e.to_string()))?;
            let offset = match elem.offset() {
                Offset::Offset(o) => o,
                Offset::End => self.watermarks(p)?.1,
                other => return Err(failed(format!("unexpected answer {other:?}"))),
            };
            out.push(offset);
        }
        Ok(out)
    }
}

/// The topics `topic` names: itself, or every known topic a `^…` pattern matches.
fn matching<'a>(
    topic: &str,
    known: &HashMap<&'a str, &MetadataTopic>,
) -> Result<Vec<&'a str>, PositionError> {
    if !topic.starts_with('^') {
        return match known.get_key_value(topic) {
            Some((name, _)) => Ok(vec![*name]),
            None => Err(PositionError::UnknownTopic(topic.to_string())),
        };
    }
    let re = regex::Regex::new(topic).map_err(|error| PositionError::BadPattern {
        pattern: topic.to_string(),
        error,
    })?;
    let names: Vec<&str> = known
        .keys()
        .copied()
        .filter(|n| !n.starts_with("__") && re.is_match(n))
        .collect();
    if names.is_empty() {
        return Err(PositionError::NoMatch(topic.to_string()));
    }
    Ok(names)
}

fn describe_error(group: &str, error: rdkafka::error::KafkaError) -> PositionError {
    PositionError::Describe {
        group: group.to_string(),
        error,
    }
}
