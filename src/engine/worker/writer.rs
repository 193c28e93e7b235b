//! `BlockWriter`: where a partition worker puts a decoded message — its rows routed to their
//! target table and appended to the (partition, table) block, memory reserved for them, the
//! block handed over when full; a DDL applied behind its table's barrier (`ddl.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{AssignedPartition, BadMessage};
use crate::config::Config;
use crate::decode::RowBatch;
use crate::engine::Shared;
use crate::engine::blocks::{BlockKey, OpenBlocks, OpenError, Shape, Stop};
use crate::engine::catalog::CatalogError;
use crate::engine::record::SourceRecord;
use crate::engine::router::{RouteError, Router};
use crate::engine::tables::TableHandle;

pub(super) struct BlockWriter {
    pub shared: Arc<Shared>,
    /// The job as of the last (re)configuration.
    pub config: Arc<Config>,
    pub router: Router,
    pub blocks: OpenBlocks,
}

impl BlockWriter {
    /// Routes and writes with `config` from now on (a reload changed `[[tables]]`).
    pub(super) fn reconfigure(&mut self, config: Arc<Config>) {
        self.router.reconfigure(Arc::clone(&config));
        self.config = config;
    }

    pub(super) fn stop(&self) -> Stop<'_> {
        stop_of(&self.shared)
    }

    /// Route → append → reserve → send, all of the message's rows or none. Rows that do not
    /// match the target's columns go to `drift.rs`.
    pub(super) fn write_rows(
        &mut self,
        partition: &AssignedPartition,
        batch: &RowBatch<'_>,
        record: &SourceRecord<'_>,
    ) -> Result<(), BadMessage> {
        loop {
            match self.write_routed(partition, batch, record) {
                // A DDL dropped or renamed the table while this worker waited: route again.
                Err(BadMessage::Retired) => continue,
                done => return done,
            }
        }
    }

    fn write_routed(
        &mut self,
        partition: &AssignedPartition,
        batch: &RowBatch<'_>,
        record: &SourceRecord<'_>,
    ) -> Result<(), BadMessage> {
        let table = self.target_of(partition, batch, record)?;
        match self.append(partition, &table, &Shape::Full, batch, record) {
            Err(BadMessage::Encode(e)) => self.on_drift(partition, &table, batch, record, e),
            done => done,
        }
    }

    /// Appends the message's rows, encoded as `shape`, to its (partition, table) block.
    pub(super) fn append(
        &mut self,
        partition: &AssignedPartition,
        table: &Arc<TableHandle>,
        shape: &Shape,
        batch: &RowBatch<'_>,
        record: &SourceRecord<'_>,
    ) -> Result<(), BadMessage> {
        let key = BlockKey {
            partition: partition.id.clone(),
            table: Arc::clone(&table.name),
        };
        let shared = Arc::clone(&self.shared);
        let stop = stop_of(&shared);
        (self.blocks.open(&key, table, shape, partition, stop)).map_err(|e| match e {
            OpenError::Table(e) => BadMessage::Table(e),
            OpenError::Projection(e) => BadMessage::Target(CatalogError::Schema {
                table: table.name.to_string(),
                reason: e.to_string(),
            }),
            OpenError::Stopped => BadMessage::Stopping(e.to_string()),
            OpenError::Retired => BadMessage::Retired,
        })?;
        let appended = self
            .blocks
            .append(&key, record.position, record.timestamp, batch.changes())
            .map_err(BadMessage::Encode)?;
        self.note_dropped(table, &appended);
        if appended.rows == 0 {
            return Ok(());
        }
        (shared.metrics.rows_decoded).fetch_add(appended.rows, Ordering::Relaxed);
        self.blocks.reserve(&key, stop);
        self.blocks.send_if_full(&key, stop.hard);
        Ok(())
    }

    /// The target table of a row message; with `autoCreateTable` a missing target is created
    /// from the message's column types first.
    fn target_of(
        &mut self,
        partition: &AssignedPartition,
        batch: &RowBatch<'_>,
        record: &SourceRecord<'_>,
    ) -> Result<Arc<TableHandle>, BadMessage> {
        let at = record.position;
        match self.router.route(&batch.table, batch.warnings, at) {
            Err(RouteError::Target(CatalogError::Missing(_)))
                if self.config.target.ddl.auto_create_table =>
            {
                self.create_target(partition, batch, at)?;
                self.router.route(&batch.table, batch.warnings, at)
            }
            routed => routed,
        }
        .map_err(|e| match e {
            RouteError::Target(e) => BadMessage::Target(e),
            RouteError::Stopped(e) => BadMessage::Stopping(e.to_string()),
        })
    }
}

/// The engine's stop flags (a function, not a method: the borrow is of `shared` alone).
pub(super) fn stop_of(shared: &Shared) -> Stop<'_> {
    Stop {
        fatal: &shared.fatal,
        hard: &shared.hard_stop,
    }
}
