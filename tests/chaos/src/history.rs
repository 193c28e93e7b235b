//! The model of every prefix of the stream, per partition: what the target tables may hold once
//! the group committed offsets `C` (the rows of every message below `C[p]` of each partition are
//! loaded), checked row by row against what StarRocks returns.
//!
//! Every key's writes live in one partition (the workload routes a table, or a key, to one
//! partition), so the messages below `C[p]` fix each key's value at that prefix. Rows of later
//! messages may be loaded too (loaded but not yet committed, or replayed after a restart from a
//! commit at or after `C`), so a key may hold its value at the prefix *or the image of any later
//! write*; nothing else. Anything else is a lost row (missing), a stale row (an older image
//! than the committed prefix allows: a load that landed late, or a commit past unloaded rows),
//! or a row no write explains.
//!
//! The prefix is folded into a base state as commits advance, so memory holds the live rows plus
//! the writes not yet committed; commits must therefore never move back.

use std::collections::{HashMap, HashSet, VecDeque};

use starpipe_perf::model::render_row;
use starpipe_perf::verify::row_differences;
use starpipe_perf::{ExpectedTable, RowChange, Table};

/// A row as StarRocks renders it: every column's text in schema order, `None` = NULL.
pub type Image = Vec<Option<String>>;

/// By (table, key): the images pending writes leave (`None`: a deletion).
type LaterWrites<'a> = HashMap<(usize, &'a [Option<String>]), Vec<Option<&'a Image>>>;

/// One row change in StarRocks text: the key and the image it leaves (`None`: deleted).
#[derive(Debug, Clone)]
struct Write {
    table: usize,
    key: Image,
    image: Option<Image>,
}

/// A row of the base state and the message that wrote it.
#[derive(Debug, Clone)]
struct Written {
    partition: usize,
    offset: i64,
    image: Image,
}

/// One partition's messages not yet folded into the base state.
#[derive(Debug, Default)]
struct PartitionLog {
    /// Messages `[0, folded)` are in the base state.
    folded: i64,
    /// The row changes of messages `folded..`, one entry per message.
    pending: VecDeque<Vec<Write>>,
}

impl PartitionLog {
    fn end(&self) -> i64 {
        self.folded + self.pending.len() as i64
    }
}

/// The outcome of one [`History::check`].
#[derive(Debug, Default, Clone)]
pub struct Checked {
    /// Rows compared: rows read from StarRocks plus model rows found missing or deleted later.
    pub rows: u64,
    /// Differences, each described (the first [`MAX_EXAMPLES`]).
    pub examples: Vec<String>,
    /// Every difference found.
    pub differences: u64,
}

impl Checked {
    pub fn ok(&self) -> bool {
        self.differences == 0
    }

    fn note(&mut self, what: String) {
        self.differences += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(what);
        }
    }
}

/// Differences described per check; the count covers the rest.
const MAX_EXAMPLES: usize = 10;

/// The prefix model: the workload's tables, the base state and the pending writes.
pub struct History {
    tables: Vec<Table>,
    /// Per table: columns, key and comparison rules (no rows).
    layouts: Vec<ExpectedTable>,
    partitions: Vec<PartitionLog>,
    /// Per table, by key: the rows the folded prefixes leave.
    base: Vec<HashMap<Image, Written>>,
}

impl History {
    pub fn new(tables: &[Table], partitions: usize) -> History {
        History {
            tables: tables.to_vec(),
            layouts: tables
                .iter()
                .map(|t| ExpectedTable::new(t, std::iter::empty()))
                .collect(),
            partitions: (0..partitions).map(|_| PartitionLog::default()).collect(),
            base: tables.iter().map(|_| HashMap::new()).collect(),
        }
    }

    /// The tables' layouts (what to read back from StarRocks), in the order
    /// [`History::check`] takes the actual rows.
    pub fn layouts(&self) -> &[ExpectedTable] {
        &self.layouts
    }

    /// Records the next message of `partition` (its offset is the number recorded before: the
    /// topic is fresh and produced once, in order, by an idempotent producer) and returns it.
    pub fn record(&mut self, partition: usize, changes: Vec<RowChange>) -> i64 {
        let writes = changes.into_iter().map(|c| self.write(c)).collect();
        let log = &mut self.partitions[partition];
        log.pending.push_back(writes);
        log.end() - 1
    }

    /// Messages recorded per partition.
    pub fn ends(&self) -> Vec<i64> {
        self.partitions.iter().map(PartitionLog::end).collect()
    }

    fn write(&self, change: RowChange) -> Write {
        let (name, row, upsert) = match change {
            RowChange::Upsert { table, row } => (table, row, true),
            RowChange::Delete { table, row } => (table, row, false),
        };
        let table = self
            .tables
            .iter()
            .position(|t| t.name == name)
            .unwrap_or_else(|| panic!("table {name} is not in the history"));
        let image = render_row(&self.tables[table], &row);
        let key = image[..self.tables[table].key_len].to_vec();
        Write {
            table,
            key,
            image: upsert.then_some(image),
        }
    }

    /// Compares `actual` (per table of [`History::layouts`], the rows StarRocks returned, read
    /// after `committed` was read) with what the committed prefixes allow. Folds the prefixes
    /// first: `committed` must not be below an earlier check's.
    pub fn check(&mut self, committed: &[i64], actual: &[Vec<Image>]) -> Checked {
        let mut checked = Checked::default();
        for (p, c) in committed.iter().enumerate() {
            if let Err(e) = self.fold(p, *c) {
                checked.note(e);
            }
        }
        if !checked.ok() {
            return checked;
        }
        let later = self.later_writes();
        for (t, rows) in actual.iter().enumerate() {
            self.check_table(t, rows, &later, committed, &mut checked);
        }
        checked
    }

    /// Folds the messages of `partition` below `to` into the base state.
    fn fold(&mut self, partition: usize, to: i64) -> Result<(), String> {
        let log = &self.partitions[partition];
        if to < log.folded {
            return Err(format!(
                "partition {partition}: the committed offset went back from {} to {to}",
                log.folded
            ));
        }
        if to > log.end() {
            return Err(format!(
                "partition {partition}: committed offset {to} is past the {} messages produced",
                log.end()
            ));
        }
        while self.partitions[partition].folded < to {
            let log = &mut self.partitions[partition];
            let offset = log.folded;
            let writes = log
                .pending
                .pop_front()
                .expect("a pending message below the end");
            log.folded += 1;
            for w in writes {
                let rows = &mut self.base[w.table];
                match w.image {
                    Some(image) => {
                        let written = Written {
                            partition,
                            offset,
                            image,
                        };
                        rows.insert(w.key, written);
                    }
                    None => {
                        rows.remove(&w.key);
                    }
                }
            }
        }
        Ok(())
    }

    /// Every image a pending (not yet committed) write leaves, by table and key; `None` for a
    /// deletion.
    fn later_writes(&self) -> LaterWrites<'_> {
        let mut later = LaterWrites::new();
        for log in &self.partitions {
            for w in log.pending.iter().flatten() {
                later
                    .entry((w.table, &w.key[..]))
                    .or_default()
                    .push(w.image.as_ref());
            }
        }
        later
    }

    fn check_table(
        &self,
        t: usize,
        rows: &[Image],
        later: &LaterWrites<'_>,
        committed: &[i64],
        checked: &mut Checked,
    ) {
        let layout = &self.layouts[t];
        let nk = layout.key.len();
        let name = &layout.name;
        let mut present: HashSet<&[Option<String>]> = HashSet::with_capacity(rows.len());
        for row in rows {
            let key = &row[..nk];
            present.insert(key);
            checked.rows += 1;
            let same = |image: &Image| row_differences(layout, image, row).is_empty();
            let base = self.base[t].get(key);
            let later_images = later.get(&(t, key));
            if base.is_some_and(|w| same(&w.image))
                || later_images.is_some_and(|ws| ws.iter().flatten().any(|i| same(i)))
            {
                continue;
            }
            checked.note(match base {
                Some(w) => format!(
                    "{name} {key:?}: stale or wrong row: partition {} committed at {} covers its \
                     write at offset {} and no later write matches: {}",
                    w.partition,
                    committed[w.partition],
                    w.offset,
                    row_differences(layout, &w.image, row).join("; ")
                ),
                None => format!(
                    "{name} {key:?}: extra row: no write below the committed offsets leaves it \
                     and no later write matches: {row:?}"
                ),
            });
        }
        for (key, w) in &self.base[t] {
            if present.contains(&key[..]) {
                continue;
            }
            checked.rows += 1;
            let deleted_later = later
                .get(&(t, &key[..]))
                .is_some_and(|ws| ws.iter().any(Option::is_none));
            if !deleted_later {
                checked.note(format!(
                    "{name} {key:?}: missing row: partition {} committed at {} covers its write \
                     at offset {} and no later write deletes it",
                    w.partition, committed[w.partition], w.offset
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sbtest() -> Table {
        starpipe_perf::schema::sbtest()
    }

    /// A full sbtest row (canonical text) with key `id` and `k = version`.
    fn row(id: u64, version: u32) -> Vec<Option<String>> {
        let t = sbtest();
        t.columns
            .iter()
            .enumerate()
            .map(|(i, _)| match i {
                0 => Some(id.to_string()),
                1 => Some(version.to_string()),
                _ => Some(format!("c{version}")),
            })
            .collect()
    }

    fn upsert(id: u64, version: u32) -> RowChange {
        RowChange::Upsert {
            table: "sbtest",
            row: row(id, version),
        }
    }

    fn delete(id: u64) -> RowChange {
        RowChange::Delete {
            table: "sbtest",
            row: row(id, 0),
        }
    }

    fn image(id: u64, version: u32) -> Image {
        render_row(&sbtest(), &row(id, version))
    }

    /// Key 1 written at offsets 0 (v0), 1 (v1) and 2 (v2), key 2 inserted at 1, deleted at 3.
    fn history() -> History {
        let mut h = History::new(&[sbtest()], 1);
        h.record(0, vec![upsert(1, 0)]);
        h.record(0, vec![upsert(1, 1), upsert(2, 0)]);
        h.record(0, vec![upsert(1, 2)]);
        h.record(0, vec![delete(2)]);
        h
    }

    #[test]
    fn the_committed_prefix_or_any_later_write_passes() {
        let mut h = history();
        // Committed 2: key 1 is v1 or later (v2), key 2 is there or deleted later.
        assert!(h.check(&[2], &[vec![image(1, 1), image(2, 0)]]).ok());
        assert!(h.check(&[2], &[vec![image(1, 2)]]).ok());
        let all = h.check(&[4], &[vec![image(1, 2)]]);
        assert!(all.ok(), "{:?}", all.examples);
        assert_eq!(all.rows, 1);
    }

    #[test]
    fn a_stale_row_below_the_commit_is_found() {
        let mut h = history();
        let c = h.check(&[2], &[vec![image(1, 0), image(2, 0)]]);
        assert_eq!(c.differences, 1, "{:?}", c.examples);
        assert!(c.examples[0].contains("stale"), "{:?}", c.examples);
        assert!(c.examples[0].contains("offset 1"), "{:?}", c.examples);
    }

    #[test]
    fn a_missing_row_below_the_commit_is_found() {
        let mut h = history();
        // Key 2's deletion (offset 3) is not committed yet: its absence is allowed; key 1's
        // is not.
        let c = h.check(&[3], &[vec![]]);
        assert_eq!(c.differences, 1, "{:?}", c.examples);
        assert!(c.examples[0].contains("missing"), "{:?}", c.examples);
        assert!(c.examples[0].contains("offset 2"), "{:?}", c.examples);
        // At the end the deletion is committed: the row must be gone.
        let c = h.check(&[4], &[vec![image(1, 2), image(2, 0)]]);
        assert!(c.examples[0].contains("extra"), "{:?}", c.examples);
    }

    #[test]
    fn commits_never_move_back_or_past_the_end() {
        let mut h = history();
        assert!(h.check(&[3], &[vec![image(1, 2), image(2, 0)]]).ok());
        assert!(h.check(&[2], &[vec![image(1, 2)]]).examples[0].contains("went back"));
        assert!(h.check(&[5], &[vec![]]).examples[0].contains("past the 4 messages"));
    }
}
