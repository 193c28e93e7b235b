//! `starpipe position show` and `starpipe position reset`: the consumer group's position on
//! the job's topics, read and reset through [`crate::position`]. Output formats are documented
//! in README.md (Commands); errors go to the caller (`error: …` on stderr, exit status 1).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tabwriter::TabWriter;

use super::{PositionResetArgs, PositionShowArgs};
use crate::config::{Config, SourceConfig};
use crate::position::{self, Group, GroupStatus, OffsetChange, PartitionPosition};

/// Bound on each round trip to the brokers.
const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);

/// What `position show --json` prints.
#[derive(Serialize)]
struct ShowDocument<'a> {
    group: &'a str,
    state: &'a str,
    members: &'a [crate::position::Member],
    partitions: &'a [PartitionPosition],
}

/// `starpipe position show --config FILE [--json]`.
pub fn show(args: &PositionShowArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = Config::read(&args.job.config)?;
    let group = Group::open(&config.source, KAFKA_TIMEOUT)?;
    let partitions = group.cluster().partitions(&config.source.topics)?;
    let positions = group.positions(&partitions)?;
    let status = group.status()?;
    if args.json {
        let doc = ShowDocument {
            group: group.id(),
            state: &status.state,
            members: &status.members,
            partitions: &positions,
        };
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)?;
    } else {
        write_positions(&positions, out)?;
        writeln!(out)?;
        write_status(group.id(), &status, out)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn write_positions(positions: &[PartitionPosition], out: &mut dyn Write) -> anyhow::Result<()> {
    let mut tw = TabWriter::new(&mut *out).padding(2);
    writeln!(
        tw,
        "TOPIC\tPARTITION\tCOMMITTED\tCOMMITTED AT\tLOG START\tEND\tLAG"
    )?;
    for p in positions {
        let committed = p
            .committed
            .map_or_else(|| "no commit".to_string(), |c| c.to_string());
        writeln!(
            tw,
            "{}\t{}\t{committed}\t{}\t{}\t{}\t{}",
            p.partition.topic,
            p.partition.partition,
            committed_at(p),
            p.log_start,
            p.end,
            p.lag.map_or_else(|| "-".to_string(), |l| l.to_string()),
        )?;
    }
    tw.flush()?;
    Ok(())
}

/// The timestamp of the message at the committed offset, or why there is none.
fn committed_at(p: &PartitionPosition) -> String {
    match (p.committed, p.committed_timestamp) {
        (_, Some(t)) => t.to_string(),
        (None, None) => "-".into(),
        (Some(c), None) if c >= p.end => "at end".into(),
        (Some(c), None) if c < p.log_start => "before log start".into(),
        (Some(_), None) => "unknown".into(),
    }
}

fn write_status(group: &str, status: &GroupStatus, out: &mut dyn Write) -> anyhow::Result<()> {
    let state = if status.state == "Dead" && status.members.is_empty() {
        "not known to the coordinator (no offsets committed yet)"
    } else {
        &status.state
    };
    writeln!(
        out,
        "group {group}: {state}, {} live member(s)",
        status.members.len()
    )?;
    if status.members.is_empty() {
        return Ok(());
    }
    let mut tw = TabWriter::new(&mut *out).padding(2);
    writeln!(tw, "MEMBER\tCLIENT ID\tHOST\tASSIGNED")?;
    for m in &status.members {
        let assigned: Vec<String> = m.assignment.iter().map(ToString::to_string).collect();
        writeln!(
            tw,
            "{}\t{}\t{}\t{}",
            m.member_id,
            m.client_id,
            m.host,
            assigned.join(" ")
        )?;
    }
    tw.flush()?;
    Ok(())
}

/// `starpipe position reset --config FILE (--to-timestamp T | --to earliest|latest)
/// [--topic T]... [--yes]`.
pub fn reset(args: &PositionResetArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = Config::read(&args.job.config)?;
    let source = &config.source;
    let topics = chosen_topics(source, &args.topics)?;
    let to = args.to.start_from();
    if args.yes {
        let changes = position::reset_group(source, &topics, to, KAFKA_TIMEOUT)
            .with_context(|| format!("resetting group {} to {to}", source.consumer_group_id))?;
        write_changes(&changes, out)?;
        writeln!(out, "committed for group {}", source.consumer_group_id)?;
        return Ok(ExitCode::SUCCESS);
    }
    let group = Group::open(source, KAFKA_TIMEOUT)?;
    let partitions = group.cluster().partitions(&topics)?;
    write_changes(&group.plan_reset(&partitions, to)?, out)?;
    writeln!(
        out,
        "dry run: nothing committed; add --yes to commit these offsets for group {}",
        group.id()
    )?;
    let status = group.status()?;
    if !status.is_inactive() {
        writeln!(
            out,
            "note: group {} is not inactive now ({status}); the reset is refused until every \
             consumer of the group stops",
            group.id(),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `--topic` values, each one of `source.topics` (or matched by one of its `^…` patterns);
/// none given: all of `source.topics`.
fn chosen_topics(source: &SourceConfig, given: &[String]) -> anyhow::Result<Vec<String>> {
    if given.is_empty() {
        return Ok(source.topics.clone());
    }
    for topic in given {
        let subscribed = source.topics.iter().any(|t| {
            t == topic
                || (t.starts_with('^') && regex::Regex::new(t).is_ok_and(|re| re.is_match(topic)))
        });
        anyhow::ensure!(
            subscribed,
            "--topic {topic}: not one of source.topics ({})",
            source.topics.join(", ")
        );
    }
    Ok(given.to_vec())
}

pub(crate) fn write_changes(changes: &[OffsetChange], out: &mut dyn Write) -> anyhow::Result<()> {
    let mut tw = TabWriter::new(&mut *out).padding(2);
    writeln!(tw, "TOPIC\tPARTITION\tCURRENT → NEW")?;
    for c in changes {
        let current = c
            .current
            .map_or_else(|| "no commit".to_string(), |o| o.to_string());
        writeln!(
            tw,
            "{}\t{}\t{current} → {}",
            c.partition.topic, c.partition.partition, c.new
        )?;
    }
    tw.flush()?;
    Ok(())
}
