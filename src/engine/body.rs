//! Building a load's body from a batch of blocks: keep the last operation per key (invariant 2),
//! then write the kept rows in one body format (CSV unless a block needed JSON).

use hashbrown::HashTable;

use super::blocks::Block;
use crate::encode::{BodyBuilder, BodyFormat, EncodeError};
use crate::schema::TargetTable;

/// A Stream Load body with its format headers.
#[derive(Debug)]
pub(crate) struct Body {
    pub bytes: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
    /// Rows in the body.
    pub rows: usize,
    /// Of which deletes.
    pub deletes: usize,
    /// Rows of the batch dropped because a later row of the same key follows.
    pub collapsed: usize,
}

/// A row of a batch: (block index, row index in the block).
pub(crate) type RowRef = (usize, usize);

/// The body of `blocks`, all encoded for `table`: the last row per key.
pub(crate) fn build_body(table: &TargetTable, blocks: &[Block]) -> Result<Body, EncodeError> {
    let total: usize = blocks.iter().map(|b| b.rows.len()).sum();
    let rows = kept_rows(blocks);
    let mut body = body_of(table, blocks, &rows)?;
    body.collapsed = total - rows.len();
    Ok(body)
}

/// The last row per key of `blocks`, in batch order.
pub(crate) fn kept_rows(blocks: &[Block]) -> Vec<RowRef> {
    let (keep, _) = collapse(blocks);
    keep.iter()
        .enumerate()
        .flat_map(|(bi, rows)| {
            rows.iter()
                .enumerate()
                .filter(|(_, keep)| **keep)
                .map(move |(ri, _)| (bi, ri))
        })
        .collect()
}

/// The body of the given rows of `blocks`.
pub(crate) fn body_of(
    table: &TargetTable,
    blocks: &[Block],
    rows: &[RowRef],
) -> Result<Body, EncodeError> {
    let format = rows.iter().fold(BodyFormat::Csv, |f, (bi, _)| {
        f.combine(blocks[*bi].rows.format())
    });
    let mut body = BodyBuilder::new(table, format)?;
    body.reserve(size_hint(table, format, blocks, rows));
    let mut deletes = 0;
    for &(bi, ri) in rows {
        let block = &blocks[bi].rows;
        let span = &block.rows()[ri];
        deletes += usize::from(span.op == crate::model::ChangeOp::Delete);
        body.push_span(block, span)?;
    }
    Ok(Body {
        headers: body.headers(),
        bytes: body.finish(),
        rows: rows.len(),
        deletes,
        collapsed: 0,
    })
}

/// The size of the body of `rows`: exact for CSV; for JSON, a CSV row is counted with what
/// transcoding adds (column names, quotes, braces and the `__op` member).
fn size_hint(table: &TargetTable, format: BodyFormat, blocks: &[Block], rows: &[RowRef]) -> usize {
    let csv_row_in_json: usize = match format {
        BodyFormat::Csv => 0,
        BodyFormat::Json => {
            16 + table
                .columns
                .iter()
                .map(|c| c.name.len() + 6)
                .sum::<usize>()
        }
    };
    let row_size = |&(bi, ri): &RowRef| {
        let block = &blocks[bi].rows;
        let bytes = block.row_bytes(&block.rows()[ri]).len();
        match block.format() {
            BodyFormat::Csv => bytes + csv_row_in_json,
            // The separator before it.
            BodyFormat::Json => bytes + 1,
        }
    };
    rows.iter().map(row_size).sum::<usize>() + 2
}

/// One row of `blocks` as a JSON object (column → value, and `__op`), for a dead letter. A
/// table JSON cannot carry (VARBINARY) gives the row's CSV text instead.
pub(crate) fn row_json(table: &TargetTable, blocks: &[Block], row: RowRef) -> serde_json::Value {
    let block = &blocks[row.0].rows;
    let span = &block.rows()[row.1];
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

/// Whether a block of `next` can share a load body with `batch` (`BodyFormat::combine`): a JSON
/// block cannot share a body with a CSV block that JSON cannot carry.
pub(crate) fn fits_batch(batch: &[Block], next: &Block) -> bool {
    let format = batch
        .iter()
        .fold(next.rows.format(), |f, x| f.combine(x.rows.format()));
    format == BodyFormat::Csv
        || (next.rows.json_compatible() && batch.iter().all(|x| x.rows.json_compatible()))
}

/// Keeps the last operation per key across the batch (a delete is an operation): walks the
/// rows backwards and keeps the first row seen for each key. The table is keyed by the row's
/// key hash, computed once by the encoder, and confirms with the key bytes: no hashing or
/// allocation per row. Rows of different keys keep their relative order. Returns the keep mask
/// and its count.
pub(crate) fn collapse(blocks: &[Block]) -> (Vec<Vec<bool>>, usize) {
    let total: usize = blocks.iter().map(|b| b.rows.len()).sum();
    let span = |&(bi, ri): &RowRef| &blocks[bi].rows.rows()[ri];
    let key = |row: &RowRef| blocks[row.0].rows.key_bytes(span(row));
    let mut seen: HashTable<RowRef> = HashTable::with_capacity(total);
    let mut keep: Vec<Vec<bool>> = blocks.iter().map(|b| vec![false; b.rows.len()]).collect();
    let mut kept = 0usize;
    for (bi, b) in blocks.iter().enumerate().rev() {
        for ri in (0..b.rows.len()).rev() {
            let row = (bi, ri);
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
        let body = build_body(&table("db", "t"), &blocks).unwrap();
        assert_eq!((body.rows, body.collapsed), (3, 3));
        assert_eq!(
            crate::encode::printable_csv_row(&body.bytes),
            "2|\\N|1⏎1|c|0⏎3|x|0⏎"
        );
    }

    #[test]
    fn a_body_is_sized_once() {
        let t = table("db", "t");
        let csv = blocks(&[(&[(Upsert, "1", "a"), (Delete, "2", "b")], 0)]);
        let rows = kept_rows(&csv);
        let body = body_of(&t, &csv, &rows).unwrap();
        assert_eq!(
            size_hint(&t, BodyFormat::Csv, &csv, &rows),
            body.bytes.len() + 2
        );
        // A text value holding the column separator turns its block to JSON, and the CSV rows
        // of the other block are transcoded into the JSON body.
        let mixed = blocks(&[(&[(Upsert, "1", "a")], 0), (&[(Upsert, "2", "b\u{1}c")], 1)]);
        let rows = kept_rows(&mixed);
        let body = body_of(&t, &mixed, &rows).unwrap();
        let hint = size_hint(&t, BodyFormat::Json, &mixed, &rows);
        assert!(body.bytes.starts_with(b"["), "a JSON body");
        assert!(body.bytes.len() <= hint, "{} > {hint}", body.bytes.len());
    }
}
