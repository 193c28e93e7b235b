//! `starpipe prepare`: before a job is run again from `startFrom` (BladePipe's "Removal of
//! Target Data" and "Recreating Target Table"), empty or re-create every target table the job
//! maps, then reset its consumer group to `startFrom`.
//!
//! The tables: the job's explicit targets (`[[tables]]` entries without a glob, entries with
//! `topic`) and the existing StarRocks tables a glob entry may load into
//! ([`Config::glob_targets`]). Tables loaded under their own name without any entry are not
//! known to the job file and are left alone. [`plan`] reads everything and changes nothing;
//! [`execute`] resets the group first, which is refused while the group has live members, so
//! a refusal leaves every table whole.

mod starrocks;

use std::time::Duration;

use crate::config::{Config, ConfigError, StartFrom, TargetName};
use crate::position::{Group, GroupStatus, OffsetChange, Partition, PositionError};
use crate::schema::TableModel;
use starrocks::Target;

/// What happens to each table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `TRUNCATE TABLE`: the table stays, its rows go.
    Truncate,
    /// `DROP TABLE`, then the table's own `SHOW CREATE TABLE` statement.
    Recreate,
}

/// What [`execute`] does to one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Truncate,
    /// Drop, then create with `create` (the table's `SHOW CREATE TABLE`).
    Recreate {
        create: String,
    },
    /// The table does not exist: nothing to do.
    Absent,
    /// Not a Primary Key table (the job cannot load it): left alone.
    NotPrimaryKey {
        model: String,
    },
}

/// One table and what happens to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TablePlan {
    pub table: TargetName,
    pub action: Action,
}

/// Everything `prepare` would do.
#[derive(Clone, Debug)]
pub struct Plan {
    pub mode: Mode,
    pub tables: Vec<TablePlan>,
    /// `source.consumerGroupId`, its state now, and where it is reset to.
    pub group: String,
    pub status: GroupStatus,
    pub reset_to: StartFrom,
    /// Each partition's committed offset now and after the reset.
    pub offsets: Vec<OffsetChange>,
}

impl Plan {
    /// The tables [`execute`] changes.
    pub fn changed(&self) -> impl Iterator<Item = &TablePlan> {
        self.tables
            .iter()
            .filter(|t| matches!(t.action, Action::Truncate | Action::Recreate { .. }))
    }
}

/// Why `prepare` could not plan or finish.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Position(#[from] PositionError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot connect to StarRocks at {host} as {user}: {message}")]
    Connect {
        host: String,
        user: String,
        message: String,
    },
    #[error("`{statement}` failed: {message}")]
    Query { statement: String, message: String },
    #[error(
        "{table} was dropped but could not be created again: {message}; StarRocks keeps a \
         dropped table in its recycle bin for a while: `RECOVER TABLE {recover}` restores it"
    )]
    Recreate {
        table: TargetName,
        recover: String,
        message: String,
    },
    /// A consumer joined after the reset and is still live: rows it loaded before a table was
    /// emptied are gone, and its commits may move the group past them.
    #[error(
        "group {group} became active while prepare ran ({status}): a consumer of the group \
         started during prepare and may have loaded rows a truncation then removed; stop every \
         consumer of the group and run prepare again"
    )]
    JoinedMeanwhile { group: String, status: GroupStatus },
    /// The tables are done and the group's known partitions reset again, but the partitions
    /// created meanwhile could not be read (so not reset).
    #[error(
        "group {group}: cannot reset the partitions created while prepare ran: {error}; run \
         prepare again"
    )]
    Added {
        group: String,
        error: Box<PositionError>,
    },
}

/// What `prepare` would do in `mode`: the tables (with their `SHOW CREATE TABLE` for
/// [`Mode::Recreate`]) and the group's offsets before and after the reset. Changes nothing.
pub fn plan(config: &Config, mode: Mode, kafka_timeout: Duration) -> Result<Plan, PrepareError> {
    let group = Group::open(&config.source, kafka_timeout)?;
    let partitions = group.cluster().partitions(&config.source.topics)?;
    let offsets = group.plan_reset(&partitions, config.source.start_from)?;
    let status = group.status()?;
    let mut target = Target::connect(&config.target)?;
    let existing = target.tables()?;
    let mut names = config.explicit_targets();
    let primary_keys = existing
        .iter()
        .filter(|(_, model)| TableModel::parse(model) == Ok(TableModel::PrimaryKeys))
        .map(|(t, _)| t);
    for t in config.glob_targets(primary_keys) {
        if !names.contains(&t) {
            names.push(t);
        }
    }
    let mut tables = Vec::with_capacity(names.len());
    for table in names {
        let model = existing.iter().find(|(t, _)| *t == table).map(|(_, m)| m);
        let action = match model {
            None => Action::Absent,
            Some(m) if TableModel::parse(m) != Ok(TableModel::PrimaryKeys) => {
                Action::NotPrimaryKey { model: m.clone() }
            }
            Some(_) if mode == Mode::Truncate => Action::Truncate,
            Some(_) => Action::Recreate {
                create: target.show_create(&table)?,
            },
        };
        tables.push(TablePlan { table, action });
    }
    Ok(Plan {
        mode,
        tables,
        group: group.id().to_string(),
        status,
        reset_to: config.source.start_from,
        offsets,
    })
}

/// Carries out `plan`. StarRocks is connected to first, so a target that cannot be reached
/// leaves the offsets alone. Then the group is reset to `startFrom` ([`Group::reset`]: refused
/// while the group has live members, by this check and by the coordinator), so a refusal leaves
/// every table whole; `reset` is told the offsets committed. Then each table is truncated or
/// re-created (`done` is told after each). Last the same offsets are committed again: refused
/// if a consumer joined meanwhile, and undoing the commits of one that joined and left (rows it
/// loaded before a truncation are gone; from the reset offsets a rerun loads them again).
pub fn execute(
    config: &Config,
    plan: &Plan,
    kafka_timeout: Duration,
    reset: &mut dyn FnMut(&[OffsetChange]),
    done: &mut dyn FnMut(&TablePlan),
) -> Result<(), PrepareError> {
    let group = Group::open(&config.source, kafka_timeout)?;
    let mut target = Target::connect(&config.target)?;
    let partitions = group.cluster().partitions(&config.source.topics)?;
    let changes = group.reset(&partitions, plan.reset_to)?;
    reset(&changes);
    for table in plan.changed() {
        match &table.action {
            Action::Truncate => target.truncate(&table.table)?,
            Action::Recreate { create } => target.recreate(&table.table, create)?,
            Action::Absent | Action::NotPrimaryKey { .. } => continue,
        }
        done(table);
    }
    // Partitions created meanwhile (a topic grown, a new topic a pattern matches) are reset
    // too: a consumer that joined and left may have committed on them as well. If they cannot
    // be read, the known ones are still committed again, and the error says to run again.
    let added = added_partitions(&group, &config.source.topics, &partitions, plan.reset_to);
    let last: Vec<OffsetChange> = match &added {
        Ok(added) => changes.iter().chain(added).cloned().collect(),
        Err(_) => changes,
    };
    group
        .commit(&last)
        .map_err(|e| joined_meanwhile(&group, e))?;
    let added = added.map_err(|error| PrepareError::Added {
        group: group.id().to_string(),
        error: Box::new(error),
    })?;
    if !added.is_empty() {
        reset(&added);
    }
    Ok(())
}

/// The reset of the partitions of `topics` not in `known`: created after the first reset, so
/// every message in them is newer than it, and `latest` means their start.
fn added_partitions(
    group: &Group,
    topics: &[String],
    known: &[Partition],
    reset_to: StartFrom,
) -> Result<Vec<OffsetChange>, PositionError> {
    let added: Vec<Partition> = (group.cluster().partitions(topics)?)
        .into_iter()
        .filter(|p| !known.contains(p))
        .collect();
    if added.is_empty() {
        return Ok(Vec::new());
    }
    let to = match reset_to {
        StartFrom::Latest => StartFrom::Earliest,
        other => other,
    };
    group.plan_reset(&added, to)
}

/// The second commit's refusal: by starpipe (a live member) or by the coordinator (a member
/// that joined after starpipe looked) both mean a consumer joined during prepare.
fn joined_meanwhile(group: &Group, e: PositionError) -> PrepareError {
    use rdkafka::types::RDKafkaErrorCode as C;
    match e {
        PositionError::GroupActive { group, status } => {
            PrepareError::JoinedMeanwhile { group, status }
        }
        PositionError::Commit { ref error, .. }
            if matches!(
                error.rdkafka_error_code(),
                Some(C::UnknownMemberId | C::RebalanceInProgress | C::IllegalGeneration)
            ) =>
        {
            match group.status() {
                Ok(status) => PrepareError::JoinedMeanwhile {
                    group: group.id().to_string(),
                    status,
                },
                Err(_) => e.into(),
            }
        }
        other => other.into(),
    }
}
