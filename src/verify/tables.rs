//! The target tables of the window's messages: routed as the job routes them (`[[tables]]`,
//! else the same name; a `topic` entry's table is the target itself), filtered by `--table`,
//! their schemas read once from StarRocks. Also the decoder's [`KeyResolver`]: key changes are
//! detected with the target's PRIMARY KEY, as in the engine.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use glob::Pattern;

use super::VerifyError;
use crate::config::{Config, TargetName};
use crate::decode::KeyResolver;
use crate::engine::Catalog;
use crate::model::{SourceTable, TableOrigin};
use crate::schema::TargetTable;

/// A target table `verify` checks.
pub(crate) struct Target {
    /// `db.table`.
    pub name: String,
    pub table: Arc<TargetTable>,
    key: Arc<[String]>,
}

/// A source table as a message named it (or its topic gave it).
type SourceKey = (TableOrigin, String);

/// Source table → target, cached; `None` for targets `--table` leaves out.
pub(crate) struct Targets<'a> {
    config: &'a Config,
    catalog: &'a Catalog,
    only: &'a [Pattern],
    by_source: RefCell<HashMap<SourceKey, Option<Arc<Target>>>>,
    by_name: RefCell<HashMap<String, Arc<Target>>>,
}

impl<'a> Targets<'a> {
    pub(crate) fn new(config: &'a Config, catalog: &'a Catalog, only: &'a [Pattern]) -> Self {
        Targets {
            config,
            catalog,
            only,
            by_source: RefCell::new(HashMap::new()),
            by_name: RefCell::new(HashMap::new()),
        }
    }

    /// Where rows of `table` go, or `None` when `--table` leaves the target out.
    pub(crate) fn get(
        &self,
        table: &SourceTable<'_>,
        origin: TableOrigin,
    ) -> Result<Option<Arc<Target>>, VerifyError> {
        let cache_key = (origin, table.to_string());
        if let Some(t) = self.by_source.borrow().get(&cache_key) {
            return Ok(t.clone());
        }
        let name = match origin {
            TableOrigin::Topic => TargetName {
                db: table.db.to_string(),
                table: table.table.to_string(),
            },
            TableOrigin::Message => self.config.route(table.db, table.table),
        };
        let target = if self.selected(&name) {
            Some(self.read(&name)?)
        } else {
            None
        };
        self.by_source
            .borrow_mut()
            .insert(cache_key, target.clone());
        Ok(target)
    }

    fn selected(&self, name: &TargetName) -> bool {
        let text = name.to_string();
        self.only.is_empty() || self.only.iter().any(|p| p.matches(&text))
    }

    fn read(&self, name: &TargetName) -> Result<Arc<Target>, VerifyError> {
        let text = name.to_string();
        if let Some(t) = self.by_name.borrow().get(&text) {
            return Ok(Arc::clone(t));
        }
        let table = self
            .catalog
            .table(&name.db, &name.table)
            .map_err(|e| VerifyError::Target {
                table: text.clone(),
                message: e.to_string(),
            })?;
        let key: Arc<[String]> = table.key_columns().map(|c| c.name.clone()).collect();
        let target = Arc::new(Target {
            name: text.clone(),
            table: Arc::new(table),
            key,
        });
        self.by_name.borrow_mut().insert(text, Arc::clone(&target));
        Ok(target)
    }
}

impl KeyResolver for Targets<'_> {
    fn key_columns(&self, table: &SourceTable<'_>, origin: TableOrigin) -> Option<Arc<[String]>> {
        // A target that cannot be read fails the message's routing right after decoding, with
        // the reason.
        self.get(table, origin)
            .ok()
            .flatten()
            .map(|t| Arc::clone(&t.key))
    }
}
