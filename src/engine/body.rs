//! Building a batch's load bodies from its blocks: keep the last operation per key (invariant
//! 2), then write the kept CSV rows in one body and the kept JSON rows in another.

use std::io::Read;

use hashbrown::HashTable;

use super::blocks::Block;
use super::load::{BodyError, BodySource};
use crate::encode::{BodyBuilder, BodyFormat, EncodeError, EncodedBlock, RowSpan};
use crate::schema::TargetTable;

/// A row of a batch: (block index, row index in the block). `u32`s: a batch's collapse keeps
/// one per row beside the batch, outside the memory budget, so they are kept small (a block of
/// 2^32 rows would hold 192 GiB of row spans alone).
pub(crate) type RowRef = (u32, u32);

/// The span of `row` in `blocks`, and its block.
fn located(blocks: &[Block], (bi, ri): RowRef) -> (&EncodedBlock, &RowSpan) {
    let block = &blocks[bi as usize].rows;
    (block, &block.rows()[ri as usize])
}

/// The load body of rows of a batch, all of one format, written from the blocks while it is
/// sent, so that a load never holds a second copy of its batch (invariant 3). Its length is
/// found first, from the rows' lengths. Rows are never transcoded: a CSV row holding a value a
/// JSON load would change can never end up in a JSON body.
pub(crate) struct BatchBody<'a> {
    blocks: &'a [Block],
    rows: Vec<RowRef>,
    /// An empty builder of the body's format, cloned for each reading.
    empty: BodyBuilder,
    size: u64,
    pub headers: Vec<(&'static str, String)>,
    /// Of the rows, deletes.
    pub deletes: usize,
}

/// Rows are written while a body is read in pieces of about this many bytes.
const PIECE: usize = 64 * 1024;

impl<'a> BatchBody<'a> {
    /// The body of the given rows of `blocks`, all encoded for `table` in `format` (a part of
    /// [`parts`]); a row of another format is [`EncodeError::FormatMismatch`].
    pub(crate) fn of_rows(
        table: &TargetTable,
        blocks: &'a [Block],
        format: BodyFormat,
        rows: Vec<RowRef>,
    ) -> Result<Self, EncodeError> {
        let empty = BodyBuilder::new(table, format)?;
        let (mut size, mut deletes) = (0u64, 0usize);
        for &row in &rows {
            let (block, span) = located(blocks, row);
            if span.format != format {
                return Err(EncodeError::FormatMismatch);
            }
            deletes += usize::from(span.op == crate::model::ChangeOp::Delete);
            // A JSON row with its `[` or `,`.
            size += block.row_bytes(span).len() as u64 + u64::from(format == BodyFormat::Json);
        }
        size += match (format, rows.is_empty()) {
            (BodyFormat::Csv, _) => 0,
            (BodyFormat::Json, false) => 1,
            (BodyFormat::Json, true) => 2,
        };
        Ok(BatchBody {
            blocks,
            rows,
            headers: empty.headers(),
            empty,
            size,
            deletes,
        })
    }

    /// Rows in the body.
    pub(crate) fn rows(&self) -> usize {
        self.rows.len()
    }

    /// The rows in the body, in order.
    pub(crate) fn row_refs(&self) -> &[RowRef] {
        &self.rows
    }
}

impl BodySource for BatchBody<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn reader(&self) -> Box<dyn Read + '_> {
        Box::new(BatchBodyReader {
            body: self,
            writer: self.empty.clone(),
            next: 0,
            at: 0,
            closed: false,
            sent: 0,
        })
    }
}

/// Reads a [`BatchBody`]: writes a piece of rows, hands it out, writes the next.
struct BatchBodyReader<'b> {
    body: &'b BatchBody<'b>,
    writer: BodyBuilder,
    /// The next row of `body.rows` to write.
    next: usize,
    /// How much of the written piece was read.
    at: usize,
    closed: bool,
    /// Bytes handed out, checked against the announced length at the end.
    sent: u64,
}

impl BatchBodyReader<'_> {
    /// Writes the next piece; the end of the body after the last row.
    fn write_piece(&mut self) -> std::io::Result<()> {
        self.writer.clear_output();
        self.at = 0;
        let rows = &self.body.rows;
        while self.writer.output().len() < PIECE && self.next < rows.len() {
            let (block, span) = located(self.body.blocks, rows[self.next]);
            // Cannot fail: `BatchBody::of_rows` checked these rows for this format.
            self.writer
                .push_span(block, span)
                .map_err(|e| broken(e.to_string()))?;
            self.next += 1;
        }
        if self.next == rows.len() {
            self.writer.close();
            self.closed = true;
        }
        Ok(())
    }

    /// The end of the body: it must be as long as announced, or the request would wait for
    /// bytes that never come.
    fn end(&self) -> std::io::Result<usize> {
        if self.sent == self.body.size {
            return Ok(0);
        }
        Err(self.mismatch(self.sent))
    }

    fn mismatch(&self, written: u64) -> std::io::Error {
        let size = self.body.size;
        broken(format!("{written} bytes written, {size} announced"))
    }
}

fn broken(why: String) -> std::io::Error {
    std::io::Error::other(BodyError(why))
}

impl Read for BatchBodyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let piece = &self.writer.output()[self.at..];
            if !piece.is_empty() {
                let n = piece.len().min(buf.len());
                if self.sent + n as u64 > self.body.size {
                    return Err(self.mismatch(self.sent + n as u64));
                }
                buf[..n].copy_from_slice(&piece[..n]);
                self.at += n;
                self.sent += n as u64;
                return Ok(n);
            }
            if self.closed {
                return self.end();
            }
            self.write_piece()?;
        }
    }
}

/// The rows of a batch in the bodies they load in, one load each and in this order: the kept
/// CSV rows, then the kept JSON rows (rows holding a value unquoted CSV cannot frame); empty
/// parts left out. StarRocks parses CSV 2.5–4× faster than JSON (`encode`), which a few rare
/// values would otherwise cost the whole batch.
///
/// A batch's kept rows have distinct keys, so two loads in a row leave every key as one load
/// would: the final state is the same. They are two transactions, though: until the second
/// one commits, readers see the batch's CSV rows applied and its JSON rows not yet (a key
/// change whose new row is JSON shows neither key). Distinct keys rest on the encoder's key
/// bytes being equal exactly when StarRocks' keys are (`value::normalize_key`): two spellings
/// of one key in different parts would load in part order, not batch order.
pub(crate) fn parts(blocks: &[Block]) -> Vec<(BodyFormat, Vec<RowRef>)> {
    let (keep, kept) = collapse(blocks);
    // Sized for all kept rows: JSON rows are rare, so the CSV part is about that long.
    let (mut csv, mut json) = (Vec::with_capacity(kept), Vec::new());
    for row in rows_of(&keep) {
        match located(blocks, row).1.format {
            BodyFormat::Csv => csv.push(row),
            BodyFormat::Json => json.push(row),
        }
    }
    [(BodyFormat::Csv, csv), (BodyFormat::Json, json)]
        .into_iter()
        .filter(|(_, rows)| !rows.is_empty())
        .collect()
}

/// The rows a keep mask keeps, in batch order.
fn rows_of(keep: &[Vec<bool>]) -> impl Iterator<Item = RowRef> + '_ {
    keep.iter().enumerate().flat_map(|(bi, rows)| {
        rows.iter()
            .enumerate()
            .filter(|(_, keep)| **keep)
            .map(move |(ri, _)| row_ref(bi, ri))
    })
}

fn row_ref(block: usize, row: usize) -> RowRef {
    let index = |i: usize| u32::try_from(i).expect("a batch of fewer than 2^32 blocks and rows");
    (index(block), index(row))
}

/// One row of `blocks` as a JSON object (column → value, and `__op`), for a dead letter. A
/// table JSON cannot carry (VARBINARY) gives the row's CSV text instead.
pub(crate) fn row_json(table: &TargetTable, blocks: &[Block], row: RowRef) -> serde_json::Value {
    let (block, span) = located(blocks, row);
    let as_json = BodyBuilder::new(table, BodyFormat::Json).and_then(|mut b| {
        b.push_span(block, span)?;
        Ok(b.finish())
    });
    match as_json
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
    {
        Some(serde_json::Value::Array(mut rows)) if rows.len() == 1 => rows.remove(0),
        _ => serde_json::Value::String(crate::encode::printable_csv_row(block.row_bytes(span))),
    }
}

/// Keeps the last operation per key across the batch (a delete is an operation): walks the
/// rows backwards and keeps the first row seen for each key. The table is keyed by the row's
/// key hash, computed once by the encoder, and confirms with the key bytes: no hashing or
/// allocation per row. Rows of different keys keep their relative order. Returns the keep mask
/// and its count.
pub(crate) fn collapse(blocks: &[Block]) -> (Vec<Vec<bool>>, usize) {
    let total: usize = blocks.iter().map(|b| b.rows.len()).sum();
    let span = |&row: &RowRef| located(blocks, row).1;
    let key = |&row: &RowRef| {
        let (block, span) = located(blocks, row);
        block.key_bytes(span)
    };
    let mut seen: HashTable<RowRef> = HashTable::with_capacity(total);
    let mut keep: Vec<Vec<bool>> = blocks.iter().map(|b| vec![false; b.rows.len()]).collect();
    let mut kept = 0usize;
    for (bi, b) in blocks.iter().enumerate().rev() {
        for ri in (0..b.rows.len()).rev() {
            let row = row_ref(bi, ri);
            let hash = span(&row).key_hash;
            if seen.find(hash, |other| key(other) == key(&row)).is_some() {
                continue;
            }
            seen.insert_unique(hash, row, |other| span(other).key_hash);
            keep[bi][ri] = true;
            kept += 1;
        }
    }
    (keep, kept)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::memory::MemoryBudget;
    use crate::engine::offsets::OffsetTracker;
    use crate::engine::testkit::{Rows, block, table};
    use crate::model::ChangeOp::{Delete, Upsert};

    /// The last row per key of `blocks`, in batch order.
    fn kept_rows(blocks: &[Block]) -> Vec<RowRef> {
        rows_of(&collapse(blocks).0).collect()
    }

    fn blocks(batches: &[(Rows<'_>, i64)]) -> Vec<Block> {
        let (t, tracker) = (
            Arc::new(table("db", "t")),
            Arc::new(OffsetTracker::new(None)),
        );
        let budget = Arc::new(MemoryBudget::new(1 << 20));
        batches
            .iter()
            .map(|(rows, first)| block(&t, 0, rows, *first, &tracker, &budget))
            .collect()
    }

    #[test]
    fn last_op_per_key_wins_across_blocks() {
        // UPDATE A->B then B->A: DEL 1, UPS 2, DEL 2, UPS 1 => {1: UPS, 2: DEL} (formats.md 4.3).
        let blocks = blocks(&[
            (
                &[(Upsert, "1", "a"), (Delete, "1", "a"), (Upsert, "2", "b")],
                0,
            ),
            (
                &[(Delete, "2", "b"), (Upsert, "1", "c"), (Upsert, "3", "x")],
                3,
            ),
        ]);
        let (keep, kept) = collapse(&blocks);
        assert_eq!(kept, 3);
        assert_eq!(keep[0], vec![false, false, false]);
        assert_eq!(keep[1], vec![true, true, true]);
        let body = csv_body(&blocks);
        assert_eq!(body.rows(), 3);
        assert_eq!(
            crate::encode::printable_csv_row(&read(&body, 7)),
            "2|\\N|1⏎1|c|0⏎3|x|0⏎"
        );
    }

    /// The body as a load reads it, `chunk` bytes at a time.
    fn read(body: &BatchBody<'_>, chunk: usize) -> Vec<u8> {
        let (mut reader, mut out, mut buf) = (body.reader(), Vec::new(), vec![0; chunk]);
        loop {
            match reader.read(&mut buf).unwrap() {
                0 => return out,
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// The body of the kept rows of `blocks`, all CSV.
    fn csv_body(blocks: &[Block]) -> BatchBody<'_> {
        BatchBody::of_rows(
            &table("db", "t"),
            blocks,
            BodyFormat::Csv,
            kept_rows(blocks),
        )
        .unwrap()
    }

    /// The same rows written at once.
    fn written(blocks: &[Block], format: BodyFormat, rows: &[RowRef]) -> Vec<u8> {
        let mut b = BodyBuilder::new(&table("db", "t"), format).unwrap();
        for &row in rows {
            let (block, span) = located(blocks, row);
            b.push_span(block, span).unwrap();
        }
        b.finish()
    }

    #[test]
    fn a_batch_loads_its_kept_csv_rows_then_its_kept_json_rows() {
        // Key 1's last row is JSON, key 2's CSV; 3 is only CSV, 4 only JSON.
        let blocks = blocks(&[
            (
                &[
                    (Upsert, "1", "a"),
                    (Upsert, "2", "b\u{1}"),
                    (Upsert, "3", "c"),
                ],
                0,
            ),
            (
                &[
                    (Upsert, "1", "\\N"),
                    (Upsert, "2", "b"),
                    (Upsert, "4", "\u{2}"),
                ],
                3,
            ),
        ]);
        let parts = parts(&blocks);
        use BodyFormat::{Csv, Json};
        assert_eq!(
            parts,
            [(Csv, vec![(0, 2), (1, 1)]), (Json, vec![(1, 0), (1, 2)])]
        );
        // A part's rows make a body of its format, and of no other.
        let t = table("db", "t");
        for (format, rows) in &parts {
            assert!(BatchBody::of_rows(&t, &blocks, *format, rows.clone()).is_ok());
        }
        let all = kept_rows(&blocks);
        for format in [Csv, Json] {
            assert!(matches!(
                BatchBody::of_rows(&t, &blocks, format, all.clone()),
                Err(EncodeError::FormatMismatch)
            ));
        }
        assert!(super::parts(&blocks[..0]).is_empty());
    }

    #[test]
    fn a_body_read_in_pieces_is_the_body_written_at_once() {
        let t = table("db", "t");
        let csv = blocks(&[(&[(Upsert, "1", "a"), (Delete, "2", "b")], 0)]);
        // Bodies of several pieces: 3,000 rows of 90-character values.
        let ids: Vec<String> = (10..3010).map(|i| i.to_string()).collect();
        let value = "v".repeat(90);
        let many: Vec<_> = ids
            .iter()
            .map(|id| (Upsert, id.as_str(), value.as_str()))
            .collect();
        let long_csv = blocks(&[(&many, 0)]);
        // A text value holding the column separator makes its row JSON.
        let json = blocks(&[(&[(Upsert, "2", "b\u{1}c"), (Upsert, "3", "c\u{2}")], 0)]);
        let empty = blocks(&[]);
        let cases = [
            (&csv, BodyFormat::Csv),
            (&long_csv, BodyFormat::Csv),
            (&json, BodyFormat::Json),
            (&empty, BodyFormat::Csv),
            (&empty, BodyFormat::Json),
        ];
        for (blocks, format) in cases {
            let rows = kept_rows(blocks);
            let body = BatchBody::of_rows(&t, blocks, format, rows.clone()).unwrap();
            let whole = written(blocks, format, &rows);
            assert_eq!(body.size(), whole.len() as u64);
            for chunk in [1, 7, 4096, PIECE * 2] {
                assert_eq!(read(&body, chunk), whole, "chunk {chunk}");
            }
        }
        assert!(
            csv_body(&long_csv).size() > 2 * PIECE as u64,
            "a body of several pieces"
        );
    }

    #[test]
    fn a_body_longer_or_shorter_than_announced_is_an_error() {
        let blocks = blocks(&[(&[(Upsert, "1", "a"), (Delete, "2", "b")], 0)]);
        for wrong in [-1i64, 1] {
            let mut body = csv_body(&blocks);
            body.size = (body.size as i64 + wrong) as u64;
            let mut out = Vec::new();
            let e = body.reader().read_to_end(&mut out).unwrap_err();
            let inner = e.get_ref().and_then(|i| i.downcast_ref::<BodyError>());
            assert!(inner.is_some(), "{wrong}: {e}");
        }
    }
}
