//! Schema drift without a DDL message: a row message whose columns do not match its target's
//! (a filtered DDL, a change made by hand on either side).
//!
//! The target's schema is read again first (at most once a second per table): a column added by
//! hand is then simply there. What still does not match follows the job's policy:
//! `onUnknownColumn` for message columns the target lacks (`fail` rejects the message like bad
//! input, `addColumn` adds them behind the table's barrier, `ignore` drops the values and counts
//! them), `onMissingColumn` for target columns a row lacks (`fail`, or `partialUpdate`: the rows
//! load as partial updates of the columns they carry). Nothing is dropped without a policy
//! saying so.

use std::sync::Arc;
use std::time::Duration;

use super::writer::BlockWriter;
use super::{AssignedPartition, BadMessage};
use crate::config::{OnMissingColumn, OnUnknownColumn};
use crate::ddl::ColumnDef;
use crate::decode::RowBatch;
use crate::encode::EncodeError;
use crate::engine::blocks::{Appended, Shape};
use crate::engine::catalog::CatalogError;
use crate::engine::record::SourceRecord;
use crate::engine::tables::TableHandle;

/// How often a drifted message may make a worker read its table's schema again.
const REREAD_EVERY: Duration = Duration::from_secs(1);

impl BlockWriter {
    /// A message that failed to encode with `e`: written after a fresh read of the schema, an
    /// added column or as a partial update when the policy allows, else bad.
    pub(super) fn on_drift(
        &mut self,
        partition: &AssignedPartition,
        table: &Arc<TableHandle>,
        batch: &RowBatch<'_>,
        record: &SourceRecord<'_>,
        e: EncodeError,
    ) -> Result<(), BadMessage> {
        let drifted = matches!(
            e,
            EncodeError::UnknownColumns { .. } | EncodeError::PartialRow { .. }
        );
        if !drifted {
            return Err(BadMessage::Encode(e));
        }
        let e = if self.reread(table) {
            match self.append(partition, table, &Shape::Full, batch, record) {
                Err(BadMessage::Encode(e)) => e,
                done => return done,
            }
        } else {
            e
        };
        let target = &self.config.target.ddl;
        match e {
            EncodeError::UnknownColumns { columns, .. }
                if target.on_unknown_column == OnUnknownColumn::AddColumn =>
            {
                self.add_unknown_columns(partition, table, batch, record, &columns)?;
                self.append(partition, table, &Shape::Full, batch, record)
            }
            EncodeError::PartialRow { present, .. }
                if target.on_missing_column == OnMissingColumn::PartialUpdate =>
            {
                self.append(partition, table, &Shape::Partial(present), batch, record)
            }
            e => Err(BadMessage::Encode(e)),
        }
    }

    /// `onUnknownColumn = "addColumn"`: the columns added to the target, typed from the
    /// message's column types, behind the table's barrier like a DDL message's.
    fn add_unknown_columns(
        &mut self,
        partition: &AssignedPartition,
        table: &TableHandle,
        batch: &RowBatch<'_>,
        record: &SourceRecord<'_>,
        columns: &[String],
    ) -> Result<(), BadMessage> {
        let cannot = |reason: String| {
            BadMessage::Target(CatalogError::Schema {
                table: table.name.to_string(),
                reason: format!("onUnknownColumn = \"addColumn\" cannot add {columns:?}: {reason}"),
            })
        };
        let schema = batch
            .source_schema()
            .ok_or_else(|| cannot("the message carries no column types".into()))?;
        let defs = columns
            .iter()
            .map(|name| {
                let column = schema.columns.iter().find(|c| c.name == *name);
                column
                    .map(|c| ColumnDef {
                        name: c.name.clone(),
                        source_type: c.type_expr.clone(),
                        not_null: false,
                        default: None,
                    })
                    .ok_or_else(|| cannot(format!("the message has no type for `{name}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.add_columns(
            partition,
            &table.target,
            batch.table.db,
            defs,
            record.position,
        )
    }

    /// Logs and counts what `onUnknownColumn = "ignore"` dropped; the column may since have
    /// been added to the target by hand: the schema is read again (at most once a second).
    pub(super) fn note_dropped(&self, table: &TableHandle, appended: &Appended) {
        for column in &appended.new_unknown {
            tracing::warn!(table = %table.name, %column, "message column not in the target table; its values are dropped (onUnknownColumn = \"ignore\")");
        }
        if appended.dropped_values > 0 {
            (self.shared.metrics).dropped_values(&table.name, appended.dropped_values);
            self.reread(table);
        }
    }

    /// Reads `table`'s schema again when [`REREAD_EVERY`] allows; whether it changed. A failed
    /// read counts as no change (logged): the policy decides, as it would have without it.
    fn reread(&self, table: &TableHandle) -> bool {
        if !table.reread_due(REREAD_EVERY) {
            return false;
        }
        match self.shared.tables.refresh(&table.target) {
            Ok(changed) => changed,
            Err(e) => {
                tracing::warn!(table = %table.name, "re-reading the schema of a drifted table failed: {e}");
                false
            }
        }
    }
}
