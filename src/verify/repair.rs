//! `--repair`: loads the expected images of differing keys (upserts for missing and differing
//! keys, the stream's deletes for extra keys) through the engine's own Stream Load client and
//! body builder, under labels of their own (`sp-verify-<table>-<run>-<n>`), which never collide
//! with the job's (`sp-<table>-<offset>-…`) nor with another `verify` run's.

use std::time::Duration;

use super::VerifyError;
use super::expected::Image;
use crate::config::Config;
use crate::encode::{BodyBuilder, BodyFormat};
use crate::engine::{Catalog, FilteredRows, LoadRequest, LoadSettings, RunId, StreamLoader};
use crate::schema::TargetTable;
use crate::tls::TargetTls;

/// StarRocks' longest label.
const MAX_LABEL: usize = 128;
/// Connecting to the Stream Load port takes at most this long (or `httpSoTimeoutSec`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Loads repair bodies.
pub(crate) struct Repairer {
    loader: StreamLoader,
    run: RunId,
    batch_bytes: usize,
    loads: u32,
}

impl Repairer {
    /// `catalog` lists the FEs a load's state is asked of when `httpHost` is a BE, as for the
    /// engine's loads.
    pub(crate) fn new(config: &Config, password: &str, catalog: &Catalog, tls: &TargetTls) -> Self {
        let target = &config.target;
        let frontends = catalog.frontends().unwrap_or_else(|e| {
            tracing::warn!(
                "cannot list the FEs (SHOW FRONTENDS); load states are asked of httpHost only: {e}"
            );
            Vec::new()
        });
        Repairer {
            loader: StreamLoader::new(LoadSettings {
                http_host: target.http_host.clone(),
                user: target.user.clone(),
                password: password.to_string(),
                connect_timeout: target.http_so_timeout().min(CONNECT_TIMEOUT),
                load_timeout: target.http_so_timeout(),
                label_wait: target.label_wait(),
                frontends,
                tls: tls.clone(),
            }),
            run: RunId::new(),
            batch_bytes: target.flush_batch_bytes().clamp(1 << 20, 1 << 30) as usize,
            loads: 0,
        }
    }

    /// Loads `images` into `table` (each key at most once, so their order does not matter);
    /// returns the labels used.
    pub(crate) fn load(
        &mut self,
        table: &TargetTable,
        images: &[&Image],
    ) -> Result<Vec<String>, VerifyError> {
        let mut labels = Vec::new();
        for format in [BodyFormat::Csv, BodyFormat::Json] {
            let mut rows = images.iter().filter(|i| i.format == format).peekable();
            while rows.peek().is_some() {
                let mut body = BodyBuilder::new(table, format).map_err(|e| failed(table, &e))?;
                let mut size = 0;
                while let Some(image) = rows.next_if(|_| size < self.batch_bytes) {
                    body.push(format, &image.row)
                        .map_err(|e| failed(table, &e))?;
                    size += image.row.len();
                }
                labels.push(self.send(table, body)?);
            }
        }
        Ok(labels)
    }

    fn send(&mut self, table: &TargetTable, body: BodyBuilder) -> Result<String, VerifyError> {
        self.loads += 1;
        let label = self.label(table);
        let headers = body.headers();
        let bytes = body.finish();
        let request = LoadRequest::new(table, &label, &headers, &bytes, FilteredRows::Reject);
        let mut feedback = Default::default();
        self.loader
            // Never abandoned: a repair load runs until it is done or fails.
            .load(&request, &|| false, &mut feedback)
            .map_err(|e| failed(table, &e))?;
        Ok(label)
    }

    /// `sp-verify-<table>-<run>-<n>`, within StarRocks' label rules.
    fn label(&self, table: &TargetTable) -> String {
        let tail = format!("-{}-{}", self.run, self.loads);
        let readable: String = format!("sp-verify-{}", table.table)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(MAX_LABEL - tail.len())
            .collect();
        format!("{readable}{tail}")
    }
}

fn failed(table: &TargetTable, e: &dyn std::fmt::Display) -> VerifyError {
    VerifyError::Repair {
        table: table.to_string(),
        message: e.to_string(),
    }
}
