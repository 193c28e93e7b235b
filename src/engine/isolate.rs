//! Finding the rows StarRocks rejects (`onError = "deadLetter"`). A batch answered with filtered
//! rows is split in halves, each half loaded strictly under a label of its own, recursively,
//! until every rejected row stands alone: the dead letter then carries exactly those rows, taken
//! from the batch itself — never from StarRocks' error log, which may be unreachable, truncated
//! at 64 KiB, or empty on a replay of a finished label.
//!
//! Rows of one batch have distinct keys (it was collapsed to the last row per key), so loading
//! its halves one after the other is the same as loading it whole. The splitting is bounded:
//! after [`MAX_SPLITS`] strict loads, what is left loads leniently (the good rows load) and every
//! row of it goes to the dead letter marked `"isolated": false` — a good row may then appear
//! there too, but no rejected row is ever lost.

use super::blocks::Block;
use super::body::{BatchBody, RowRef};
use super::flusher::FlushError;
use super::label::sub_label;
use super::load::{Feedback, FilteredRows, LoadError, LoadRequest, LoadService};
use crate::encode::BodyFormat;
use crate::schema::TargetTable;

/// Strict loads a batch may spend on isolating its rejected rows.
pub(crate) const MAX_SPLITS: u32 = 64;

/// A row StarRocks rejected.
#[derive(Debug, Clone)]
pub(crate) struct Rejected {
    pub row: RowRef,
    /// StarRocks' reason (the first line of the error log), or its message.
    pub reason: String,
    /// Whether the row was rejected alone (else it is one of a rest loaded leniently).
    pub isolated: bool,
}

/// One isolation: the batch, where its loads go, and what it found.
pub(crate) struct Isolation<'a> {
    pub loader: &'a dyn LoadService,
    pub table: &'a TargetTable,
    pub blocks: &'a [Block],
    /// The format of the rows (a batch's CSV rows and JSON rows load apart, `body::parts`).
    pub format: BodyFormat,
    /// The label of the failed load; sub-loads derive theirs from it.
    pub label: &'a str,
    pub abandon: &'a dyn Fn() -> bool,
    pub feedback: &'a mut Feedback,
    /// Rows loaded by the sub-loads.
    pub loaded_rows: usize,
    splits_left: u32,
    rejected: Vec<Rejected>,
}

impl<'a> Isolation<'a> {
    pub(crate) fn new(
        loader: &'a dyn LoadService,
        table: &'a TargetTable,
        blocks: &'a [Block],
        format: BodyFormat,
        label: &'a str,
        abandon: &'a dyn Fn() -> bool,
        feedback: &'a mut Feedback,
    ) -> Self {
        Isolation {
            loader,
            table,
            blocks,
            format,
            label,
            abandon,
            feedback,
            loaded_rows: 0,
            splits_left: MAX_SPLITS,
            rejected: Vec::new(),
        }
    }

    /// Loads `rows` (the kept rows of a part of the batch) around the rejected ones; returns
    /// those.
    pub(crate) fn run(mut self, rows: &[RowRef]) -> Result<(Vec<Rejected>, usize), FlushError> {
        let (first, second) = rows.split_at(rows.len() / 2);
        self.load_strictly(first, "0")?;
        self.load_strictly(second, "1")?;
        Ok((self.rejected, self.loaded_rows))
    }

    /// Loads `rows` with no row allowed to fail; splits them when some do.
    fn load_strictly(&mut self, rows: &[RowRef], path: &str) -> Result<(), FlushError> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.splits_left == 0 {
            return self.load_leniently(rows, path);
        }
        self.splits_left -= 1;
        match self.load(rows, path, FilteredRows::Reject) {
            Ok(()) => Ok(()),
            Err(FlushError::Load(LoadError::Data {
                message, rejected, ..
            })) => {
                if let [row] = rows {
                    let reason = first_line(&rejected).unwrap_or(message);
                    self.rejected.push(Rejected {
                        row: *row,
                        reason,
                        isolated: true,
                    });
                    return Ok(());
                }
                let (first, second) = rows.split_at(rows.len() / 2);
                self.load_strictly(first, &format!("{path}0"))?;
                self.load_strictly(second, &format!("{path}1"))
            }
            Err(e) => Err(e),
        }
    }

    /// The splitting budget is spent: the good rows of `rows` load, all of them are reported.
    fn load_leniently(&mut self, rows: &[RowRef], path: &str) -> Result<(), FlushError> {
        self.load(rows, &format!("{path}r"), FilteredRows::Accept)?;
        self.rejected.extend(rows.iter().map(|row| {
            Rejected {
                row: *row,
                reason: "not isolated: the batch had too many rejected rows to split them all out \
                     (this row may have loaded)"
                    .into(),
                isolated: false,
            }
        }));
        Ok(())
    }

    fn load(
        &mut self,
        rows: &[RowRef],
        path: &str,
        filtered: FilteredRows,
    ) -> Result<(), FlushError> {
        let body = BatchBody::of_rows(self.table, self.blocks, self.format, rows.to_vec())?;
        let label = sub_label(self.label, path);
        let request = LoadRequest::new(self.table, &label, &body.headers, &body, filtered);
        let loaded = self.loader.load(&request, self.abandon, self.feedback)?;
        self.loaded_rows += match filtered {
            FilteredRows::Reject => rows.len(),
            FilteredRows::Accept => usize::try_from(loaded.loaded_rows).unwrap_or(rows.len()),
        };
        Ok(())
    }
}

/// The first rejected-row line of an error log.
fn first_line(log: &str) -> Option<String> {
    log.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('('))
        .map(str::to_string)
}
