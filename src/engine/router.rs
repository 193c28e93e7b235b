//! `Router`: a message's source `db.table` → the target table's handle (`[[tables]]`, else the
//! same name), cached per source table; the decoder's warnings reported once per source table.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::catalog::CatalogError;
use super::record::Position;
use super::tables::{TableHandle, TableRegistry};
use crate::config::Config;
use crate::model::{SourceTable, Warnings};

pub(crate) struct Router {
    config: Arc<Config>,
    tables: Arc<TableRegistry>,
    /// Source `db.table` → target handle.
    routes: HashMap<String, Arc<TableHandle>>,
    /// Warnings already reported, per source `db.table`.
    warned: HashMap<String, Warnings>,
    /// `db.table` of the current message, reused so routing allocates nothing per message.
    name: String,
}

impl Router {
    pub(crate) fn new(config: Arc<Config>, tables: Arc<TableRegistry>) -> Self {
        Router {
            config,
            tables,
            routes: HashMap::new(),
            warned: HashMap::new(),
            name: String::new(),
        }
    }

    /// The target of `table`'s rows; reports `warnings` the first time each is seen for it.
    pub(crate) fn route(
        &mut self,
        table: &SourceTable<'_>,
        warnings: Warnings,
        at: Position<'_>,
    ) -> Result<Arc<TableHandle>, CatalogError> {
        self.name.clear();
        let _ = write!(self.name, "{table}");
        if !warnings.is_empty() {
            self.warn_once(warnings, at);
        }
        if let Some(h) = self.routes.get(&self.name) {
            return Ok(Arc::clone(h));
        }
        let target = self.config.route(table.db, table.table);
        let handle = self.tables.get(&target)?;
        self.routes.insert(self.name.clone(), Arc::clone(&handle));
        Ok(handle)
    }

    fn warn_once(&mut self, warnings: Warnings, at: Position<'_>) {
        if !self.warned.contains_key(&self.name) {
            self.warned.insert(self.name.clone(), Warnings::empty());
        }
        let reported = self.warned.get_mut(&self.name).expect("inserted above");
        for (warning, text) in warnings.each() {
            if !reported.contains(warning) {
                reported.insert(warning);
                tracing::warn!(table = %self.name, topic = at.topic, partition = at.partition, offset = at.offset, "{text} (reported once per table)");
            }
        }
    }
}
