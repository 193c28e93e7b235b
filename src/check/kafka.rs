//! The Kafka side: the brokers answer with the job's client settings, every topic of
//! `source.topics` (and the dead-letter topic) exists, and the group's state.

use super::{CheckOptions, CheckResult, System};
use crate::config::Config;
use crate::position::{Cluster, GroupStatus, Member};

fn result(what: String, outcome: Result<String, super::CheckError>) -> CheckResult {
    CheckResult::new(System::Kafka, what, outcome)
}

/// The brokers first; when they do not answer, the checks that need them are left out (each
/// would wait for the same brokers and report the same).
pub(super) fn checks(config: &Config, options: &CheckOptions) -> Vec<CheckResult> {
    let source = &config.source;
    let cluster = match Cluster::connect(source, options.kafka_timeout) {
        Ok(c) => c,
        Err(e) => return vec![result(brokers_what(config), Err(e.into()))],
    };
    let brokers = cluster
        .brokers()
        .map(|n| format!("{n} broker(s) answered"))
        .map_err(Into::into);
    let reachable = brokers.is_ok();
    let mut out = vec![result(brokers_what(config), brokers)];
    if !reachable {
        return out;
    }
    for topic in &source.topics {
        out.push(result(
            format!("kafka topic {topic}"),
            topic_check(&cluster, topic),
        ));
    }
    if let Some(dlq) = &config.dead_letter_topic {
        out.push(result(
            format!("kafka dead-letter topic {dlq}"),
            topic_check(&cluster, dlq),
        ));
    }
    let group = &source.consumer_group_id;
    out.push(result(
        format!("kafka group {group}"),
        cluster
            .group_status(group)
            .map(|s| describe(&s))
            .map_err(Into::into),
    ));
    out
}

fn brokers_what(config: &Config) -> String {
    format!("kafka brokers {}", config.source.brokers)
}

fn topic_check(cluster: &Cluster, topic: &str) -> Result<String, super::CheckError> {
    let partitions = cluster.partitions(&[topic.to_string()])?;
    let mut topics: Vec<&str> = partitions.iter().map(|p| p.topic.as_str()).collect();
    topics.dedup();
    Ok(if topic.starts_with('^') {
        format!(
            "{} partition(s) in {} topic(s): {}",
            partitions.len(),
            topics.len(),
            topics.join(", ")
        )
    } else {
        format!("{} partition(s)", partitions.len())
    })
}

/// `Empty, no live members`, `Stable, 1 live member: client at /host (t[0], t[1])`, or that
/// the coordinator does not know the group yet.
fn describe(status: &GroupStatus) -> String {
    if status.state == "Dead" && status.members.is_empty() {
        return "not known to the coordinator (no offsets committed yet)".into();
    }
    if status.members.is_empty() {
        return format!("{}, no live members", status.state);
    }
    let members: Vec<String> = status.members.iter().map(member).collect();
    format!(
        "{}, {} live member(s): {}",
        status.state,
        status.members.len(),
        members.join("; ")
    )
}

fn member(m: &Member) -> String {
    let assigned: Vec<String> = m.assignment.iter().map(ToString::to_string).collect();
    format!("{} at {} ({})", m.client_id, m.host, assigned.join(", "))
}
