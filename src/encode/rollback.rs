//! Undoing the rows of a message that failed half-way, so a message is encoded whole or not at
//! all (formats.md §4.1: a message is never half-applied).

use super::BodyEncoder;

impl BodyEncoder {
    /// Drops every row after the first `rows` rows of the block being filled. Rows are stored
    /// back to back in both formats, so the cut is at the first dropped row's start.
    pub fn truncate_rows(&mut self, rows: usize) {
        let block = &mut self.block;
        if let Some(first_dropped) = block.rows.get(rows) {
            let (data, keys) = (first_dropped.row.start, first_dropped.key.start);
            block.data.truncate(data);
            block.keys.truncate(keys);
            block.rows.truncate(rows);
        }
    }
}
