//! Records of the window → the expected state: decoded with the job's decoder settings, routed
//! as the job routes, encoded with the loader's own [`BodyEncoder`] (types, zero dates, time
//! zones exactly as loaded), the last change per key kept.

use std::collections::HashMap;

use super::VerifyError;
use super::expected::{Expected, Image};
use super::tables::{Target, Targets};
use super::window::Record;
use crate::config::Config;
use crate::decode::{Decoded, Decoder};
use crate::encode::{BodyEncoder, EncodeOptions, EncodedBlock, UnknownColumns};
use crate::model::{TableOrigin, Warnings};

/// What reading a window met.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReadStats {
    pub messages: u64,
    /// Row changes of the selected tables.
    pub rows: u64,
    /// Messages the job itself would reject (undecodable, or rows the encoder refuses): their
    /// rows are not in the expected state.
    pub rejected: u64,
    pub first_rejection: Option<String>,
}

/// Turns records into images.
pub(crate) struct ChangeReader<'a> {
    config: &'a Config,
    targets: &'a Targets<'a>,
    decoder: Decoder,
    encoders: HashMap<String, BodyEncoder>,
    buf: Vec<u8>,
    spare: Option<EncodedBlock>,
    pub stats: ReadStats,
}

impl<'a> ChangeReader<'a> {
    pub(crate) fn new(config: &'a Config, targets: &'a Targets<'a>) -> Self {
        ChangeReader {
            config,
            targets,
            decoder: Decoder::new(config.decode_options()),
            encoders: HashMap::new(),
            buf: Vec::new(),
            spare: None,
            stats: ReadStats::default(),
        }
    }

    /// Applies one record to `state`: its row changes replace the images of their keys.
    pub(crate) fn apply(
        &mut self,
        record: &Record<'_>,
        state: &mut Expected,
    ) -> Result<(), VerifyError> {
        self.stats.messages += 1;
        self.buf.clear();
        self.buf.extend_from_slice(record.value);
        let fallback = self.config.topic_table(record.topic);
        self.decoder
            .set_fallback_table(fallback.map(|t| (t.db.as_str(), t.table.as_str())));
        let batch = match self.decoder.decode(&mut self.buf, self.targets) {
            Ok(Decoded::Rows(batch)) => batch,
            Ok(_) => return Ok(()),
            Err(e) => {
                reject(&mut self.stats, record, &e.to_string());
                return Ok(());
            }
        };
        let origin = if batch.warnings.contains(Warnings::TABLE_FROM_FALLBACK) {
            TableOrigin::Topic
        } else {
            TableOrigin::Message
        };
        let Some(target) = self.targets.get(&batch.table, origin)? else {
            return Ok(());
        };
        let encoder = encoder(&mut self.encoders, &target)?;
        for change in batch.changes() {
            if let Err(e) = encoder.push_row(change.op, change.row.columns()) {
                encoder.truncate_rows(0);
                reject(&mut self.stats, record, &e.to_string());
                return Ok(());
            }
        }
        encoder.take_unknown_columns();
        let block = encoder.take_block(self.spare.take());
        self.stats.rows += block.len() as u64;
        for span in block.rows() {
            let image = Image {
                op: span.op,
                format: span.format,
                row: block.row_bytes(span).into(),
            };
            state
                .put(&target.name, &target.table, block.key_bytes(span), image)
                .map_err(|b| VerifyError::Memory { bound: b.bound })?;
        }
        self.spare = Some(block);
        Ok(())
    }
}

/// The encoder of `target`, made on first use.
fn encoder<'e>(
    encoders: &'e mut HashMap<String, BodyEncoder>,
    target: &Target,
) -> Result<&'e mut BodyEncoder, VerifyError> {
    if !encoders.contains_key(&target.name) {
        // The loader drops unknown columns until onUnknownColumn is wired; expect what it loads.
        let options = EncodeOptions {
            unknown: UnknownColumns::Drop,
            ..EncodeOptions::default()
        };
        let e =
            BodyEncoder::with_options(&target.table, options).map_err(|e| VerifyError::Target {
                table: target.name.clone(),
                message: e.to_string(),
            })?;
        encoders.insert(target.name.clone(), e);
    }
    Ok(encoders.get_mut(&target.name).expect("inserted above"))
}

fn reject(stats: &mut ReadStats, record: &Record<'_>, why: &str) {
    stats.rejected += 1;
    if stats.first_rejection.is_none() {
        stats.first_rejection = Some(format!(
            "{}[{}]@{}: {why}",
            record.topic, record.partition, record.offset
        ));
    }
}
