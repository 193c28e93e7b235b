//! `Router`: a message's source `db.table` → the target table's handle (`[[tables]]`, else the
//! same name; a `topic` entry's table is already the target), cached per source table; the
//! decoder's warnings reported once per source table.
//!
//! The router is also the decoder's [`KeyResolver`]: a key-changing UPDATE is detected with the
//! target's PRIMARY KEY (formats.md §4.2), never with the message's `pkNames`, which may name
//! fewer or other columns.
//!
//! Looking a target up can meet a query port that does not answer. That is an outage, not bad
//! input: the lookup is retried with back-off until StarRocks answers or the engine stops,
//! holding the worker (and so its partitions) meanwhile.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Shared;
use super::catalog::CatalogError;
use super::load::sleep_unless_stopped;
use super::record::Position;
use super::tables::TableHandle;
use crate::config::{Config, TargetName};
use crate::decode::KeyResolver;
use crate::model::{SourceTable, TableOrigin, Warnings};

/// Back-off between lookups while the query port is down.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How often a continuing outage is logged again.
const REPORT_EVERY: Duration = Duration::from_secs(30);

pub(crate) struct Router {
    shared: Arc<Shared>,
    /// The job as of the last (re)configuration: its `[[tables]]` route.
    config: Arc<Config>,
    /// Source table (see [`Router::cache_key`]) → target handle.
    routes: RefCell<HashMap<String, Arc<TableHandle>>>,
    /// Warnings already reported, per source `db.table`.
    warned: HashMap<String, Warnings>,
    /// The current message's cache key, reused so routing allocates nothing per message.
    name: RefCell<String>,
}

/// Why a message has no target.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RouteError {
    /// The target is missing, not a Primary Key table, or unreadable.
    #[error("{0}")]
    Target(CatalogError),
    /// The engine is stopping while StarRocks does not answer; the message stays unapplied.
    #[error("stopping while the query port is unreachable: {0}")]
    Stopped(CatalogError),
}

impl Router {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Router {
            config: shared.config(),
            shared,
            routes: RefCell::new(HashMap::new()),
            warned: HashMap::new(),
            name: RefCell::new(String::new()),
        }
    }

    /// Routes with `config` from now on (a reload changed `[[tables]]`).
    pub(crate) fn reconfigure(&mut self, config: Arc<Config>) {
        self.config = config;
        self.routes.borrow_mut().clear();
    }

    /// The target of `table`'s rows; reports `warnings` the first time each is seen for it.
    pub(crate) fn route(
        &mut self,
        table: &SourceTable<'_>,
        warnings: Warnings,
        at: Position<'_>,
    ) -> Result<Arc<TableHandle>, RouteError> {
        if !warnings.is_empty() {
            self.warn_once(table, warnings, at);
        }
        let origin = if warnings.contains(Warnings::TABLE_FROM_FALLBACK) {
            TableOrigin::Topic
        } else {
            TableOrigin::Message
        };
        self.handle(table, origin)
    }

    /// The cached handle, else the registry's (retrying while the query port is down).
    fn handle(
        &self,
        table: &SourceTable<'_>,
        origin: TableOrigin,
    ) -> Result<Arc<TableHandle>, RouteError> {
        let mut name = self.name.borrow_mut();
        cache_key(&mut name, table, origin);
        if let Some(h) = self.routes.borrow().get(name.as_str())
            && !h.is_retired()
        {
            return Ok(Arc::clone(h));
        }
        let target = if origin == TableOrigin::Topic {
            // A `topic` entry's table is the target itself, not a source to route again.
            TargetName {
                db: table.db.to_string(),
                table: table.table.to_string(),
            }
        } else {
            self.config.route(table.db, table.table)
        };
        let handle = self.lookup(&target)?;
        self.routes
            .borrow_mut()
            .insert(name.clone(), Arc::clone(&handle));
        Ok(handle)
    }

    /// The handle of `target` itself (not routed), waiting out an unreachable query port.
    pub(crate) fn table(&self, target: &TargetName) -> Result<Arc<TableHandle>, RouteError> {
        self.lookup(target)
    }

    /// Reads the target from StarRocks, waiting out an unreachable query port.
    fn lookup(&self, target: &TargetName) -> Result<Arc<TableHandle>, RouteError> {
        let mut wait = RETRY_FIRST;
        let mut reported: Option<Instant> = None;
        loop {
            match self.shared.tables.get(target) {
                Ok(h) => {
                    if reported.is_some() {
                        tracing::info!(table = %target, "StarRocks' query port answers again");
                    }
                    return Ok(h);
                }
                Err(e) if e.is_outage() => {
                    if reported.is_none_or(|t| t.elapsed() >= REPORT_EVERY) {
                        tracing::warn!(
                            table = %target,
                            "cannot read the target table from StarRocks' query port; retrying \
                             (the partitions of this worker wait): {e}"
                        );
                        reported = Some(Instant::now());
                    }
                    if self.stopping(wait) {
                        return Err(RouteError::Stopped(e));
                    }
                    wait = (wait * 2).min(RETRY_MAX);
                }
                Err(e) => return Err(RouteError::Target(e)),
            }
        }
    }

    /// Sleeps `wait`; whether the engine is stopping.
    fn stopping(&self, wait: Duration) -> bool {
        let stop = &self.shared.hard_stop;
        sleep_unless_stopped(wait, stop)
            || self.shared.fatal.is_set()
            || stop.load(Ordering::Relaxed)
    }

    fn warn_once(&mut self, table: &SourceTable<'_>, warnings: Warnings, at: Position<'_>) {
        let name = table.to_string();
        let reported = self.warned.entry(name.clone()).or_insert(Warnings::empty());
        for (warning, text) in warnings.each() {
            if !reported.contains(warning) {
                reported.insert(warning);
                tracing::warn!(table = %name, topic = at.topic, partition = at.partition, offset = at.offset, "{text} (reported once per table)");
            }
        }
    }
}

/// The route cache key: the source `db.table`, marked when it came from a `topic` entry (the
/// same name may also arrive as a real source identity, routed differently).
fn cache_key(out: &mut String, table: &SourceTable<'_>, origin: TableOrigin) {
    out.clear();
    if origin == TableOrigin::Topic {
        out.push('\u{0}');
    }
    let _ = write!(out, "{table}");
}

impl KeyResolver for Router {
    fn key_columns(&self, table: &SourceTable<'_>, origin: TableOrigin) -> Option<Arc<[String]>> {
        // Without a target there is no key to use; routing the message reports why.
        self.handle(table, origin).ok().map(|h| h.key_names())
    }
}
