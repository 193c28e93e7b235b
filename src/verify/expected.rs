//! The expected state: per target table and key, the last change of the window — an upsert
//! image or a delete — as the loader's encoder wrote it (so values are already in the target
//! column's StarRocks form). Held within a memory bound: past it, reading stops with an error
//! (see [`MemoryBound`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::encode::{BodyFormat, COLUMN_SEPARATOR, CSV_NULL, ROW_DELIMITER};
use crate::model::ChangeOp;
use crate::schema::TargetTable;

/// Bytes counted per kept key besides its key and row bytes: the map entry, the boxes' headers
/// and the hash table's spare room.
const ENTRY_OVERHEAD: u64 = 96;

/// A key: the encoder's key bytes (the key columns' rendered values, length-prefixed; one
/// spelling per StarRocks value).
pub(crate) type Key = Box<[u8]>;

/// The last change of one key: one encoded row (CSV or JSON) of the loader's encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Image {
    pub op: ChangeOp,
    pub format: BodyFormat,
    pub row: Box<[u8]>,
}

/// One value as the encoder rendered it: `None` is NULL.
pub(crate) type Field<'a> = Option<Cow<'a, [u8]>>;

impl Image {
    /// The row's values in table column order. For a delete only the key columns are real; the
    /// others hold the encoder's placeholders.
    pub(crate) fn fields(&self, table: &TargetTable) -> Vec<Field<'_>> {
        match self.format {
            BodyFormat::Csv => {
                let body = self.row.strip_suffix(&[ROW_DELIMITER]).unwrap_or(&self.row);
                body.split(|&b| b == COLUMN_SEPARATOR)
                    .take(table.columns.len())
                    .map(|f| (f != CSV_NULL).then_some(Cow::Borrowed(f)))
                    .collect()
            }
            BodyFormat::Json => json_fields(&self.row, table),
        }
    }

    /// The key columns' values, in key order.
    pub(crate) fn key_fields(&self, table: &TargetTable) -> Vec<Vec<u8>> {
        let fields = self.fields(table);
        table
            .key
            .iter()
            .map(|&i| {
                fields
                    .get(i)
                    .and_then(|f| f.as_deref())
                    .unwrap_or_default()
                    .to_vec()
            })
            .collect()
    }
}

/// A JSON row of the encoder: strings are the rendered text, numbers, booleans and embedded
/// JSON (JSON columns) their JSON text.
fn json_fields(row: &[u8], table: &TargetTable) -> Vec<Field<'static>> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(row).unwrap_or_default();
    table
        .columns
        .iter()
        .map(|c| match object.get(&c.name) {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(Cow::Owned(s.clone().into_bytes())),
            Some(other) => Some(Cow::Owned(other.to_string().into_bytes())),
        })
        .collect()
}

/// The window's images of one table.
pub(crate) struct TableImages {
    pub table: Arc<TargetTable>,
    pub images: HashMap<Key, Image>,
}

/// The memory bound was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemoryBound {
    pub bound: u64,
}

/// Every selected table's images, by `db.table`.
pub(crate) struct Expected {
    tables: BTreeMap<String, TableImages>,
    bytes: u64,
    bound: u64,
    /// The second pass: only keys already held are updated.
    known_only: bool,
}

impl Expected {
    /// An empty state holding at most `bound` bytes of images.
    pub(crate) fn new(bound: u64) -> Self {
        Expected {
            tables: BTreeMap::new(),
            bytes: 0,
            bound,
            known_only: false,
        }
    }

    /// Records the last change of `key` in `table` (`name` = `db.table`).
    pub(crate) fn put(
        &mut self,
        name: &str,
        table: &Arc<TargetTable>,
        key: &[u8],
        image: Image,
    ) -> Result<(), MemoryBound> {
        if self.known_only
            && !self
                .tables
                .get(name)
                .is_some_and(|t| t.images.contains_key(key))
        {
            return Ok(());
        }
        let images = &mut self
            .tables
            .entry(name.to_string())
            .or_insert_with(|| TableImages {
                table: Arc::clone(table),
                images: HashMap::new(),
            })
            .images;
        let added = image.row.len() as u64;
        match images.get_mut(key) {
            Some(old) => {
                self.bytes = self.bytes - old.row.len() as u64 + added;
                *old = image;
            }
            None => {
                self.bytes += key.len() as u64 + added + ENTRY_OVERHEAD;
                images.insert(key.into(), image);
            }
        }
        if self.bytes > self.bound {
            return Err(MemoryBound { bound: self.bound });
        }
        Ok(())
    }

    /// The tables, in name order.
    pub(crate) fn tables(&self) -> impl Iterator<Item = (&String, &TableImages)> {
        self.tables.iter()
    }

    pub(crate) fn table(&self, name: &str) -> Option<&TableImages> {
        self.tables.get(name)
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Keeps only `keep` (per table) and from now on updates only those keys: the state of the
    /// second pass.
    pub(crate) fn retain(&mut self, keep: &HashMap<String, HashSet<Key>>) {
        self.tables.retain(|name, t| {
            let Some(keys) = keep.get(name) else {
                return false;
            };
            t.images.retain(|k, _| keys.contains(k));
            !t.images.is_empty()
        });
        self.bytes = self
            .tables
            .values()
            .flat_map(|t| t.images.iter())
            .map(|(k, i)| k.len() as u64 + i.row.len() as u64 + ENTRY_OVERHEAD)
            .sum();
        self.known_only = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{StarRocksType, TableModel, TargetColumn};

    fn table() -> Arc<TargetTable> {
        Arc::new(
            TargetTable::new(
                "d",
                "t",
                vec![
                    TargetColumn::new("id", StarRocksType::Int, false, true),
                    TargetColumn::new("v", StarRocksType::Varchar(10), true, false),
                ],
                TableModel::PrimaryKeys,
            )
            .unwrap(),
        )
    }

    fn csv(row: &str, op: ChangeOp) -> Image {
        Image {
            op,
            format: BodyFormat::Csv,
            row: row.as_bytes().into(),
        }
    }

    #[test]
    fn the_last_change_wins_and_memory_is_bounded() {
        let t = table();
        let mut e = Expected::new(400);
        e.put("d.t", &t, b"k1", csv("1\x01a\x010\x02", ChangeOp::Upsert))
            .unwrap();
        e.put("d.t", &t, b"k1", csv("1\x01\\N\x011\x02", ChangeOp::Delete))
            .unwrap();
        let images = &e.table("d.t").unwrap().images;
        assert_eq!(images.len(), 1);
        assert_eq!(images[&b"k1"[..]].op, ChangeOp::Delete);
        assert_eq!(e.bytes(), 2 + 7 + ENTRY_OVERHEAD);
        e.put("d.t", &t, b"k2", csv("2\x01b\x010\x02", ChangeOp::Upsert))
            .unwrap();
        e.put("d.t", &t, b"k3", csv("3\x01c\x010\x02", ChangeOp::Upsert))
            .unwrap();
        let err = e
            .put("d.t", &t, b"k4", csv("4\x01d\x010\x02", ChangeOp::Upsert))
            .unwrap_err();
        assert_eq!(err.bound, 400);
    }

    #[test]
    fn fields_of_csv_and_json_rows() {
        let t = table();
        let c = csv("7\x01\\N\x010\x02", ChangeOp::Upsert);
        assert_eq!(c.fields(&t), vec![Some(Cow::Borrowed(&b"7"[..])), None]);
        assert_eq!(c.key_fields(&t), vec![b"7".to_vec()]);
        let j = Image {
            op: ChangeOp::Upsert,
            format: BodyFormat::Json,
            row: br#"{"id":7,"v":"\\N","__op":0}"#.as_slice().into(),
        };
        let f = j.fields(&t);
        assert_eq!(f[0].as_deref(), Some(&b"7"[..]));
        assert_eq!(f[1].as_deref(), Some(&b"\\N"[..]));
    }

    #[test]
    fn the_second_pass_updates_only_kept_keys() {
        let t = table();
        let mut e = Expected::new(1 << 20);
        for k in [&b"a"[..], b"b"] {
            e.put("d.t", &t, k, csv("1\x01a\x010\x02", ChangeOp::Upsert))
                .unwrap();
        }
        let keep = HashMap::from([("d.t".to_string(), HashSet::from([Key::from(&b"a"[..])]))]);
        e.retain(&keep);
        e.put("d.t", &t, b"c", csv("1\x01a\x010\x02", ChangeOp::Upsert))
            .unwrap();
        e.put("d.t", &t, b"a", csv("1\x01z\x011\x02", ChangeOp::Delete))
            .unwrap();
        let images = &e.table("d.t").unwrap().images;
        assert_eq!(images.len(), 1);
        assert_eq!(images[&b"a"[..]].op, ChangeOp::Delete);
    }
}
