//! Stream Load labels: the same batch (same job, table and source offset ranges) always gets
//! the same label, so a retry — even after a restart that rebuilds the same batch — is
//! recognised by StarRocks. Labels allow `[-_A-Za-z0-9]`, at most 128 characters.

use super::blocks::Block;
use crate::schema::TargetTable;

/// Characters of the readable part of a label (the hash follows it).
const READABLE_CHARS: usize = 100;

/// `sp-<table>-<first offset>-<hash of job, table and offset ranges>`.
pub(crate) fn label(job: &str, table: &TargetTable, blocks: &[Block]) -> String {
    let mut ranges: Vec<(&str, i32, i64, i64)> = blocks
        .iter()
        .map(|b| {
            let p = &b.partition;
            (&*p.topic, p.partition, *b.offsets.start(), *b.offsets.end())
        })
        .collect();
    ranges.sort();
    let mut h = Fnv::default();
    h.write(job.as_bytes());
    h.write(table.db.as_bytes());
    h.write(table.table.as_bytes());
    for (t, p, f, l) in &ranges {
        h.write(t.as_bytes());
        h.write(&p.to_le_bytes());
        h.write(&f.to_le_bytes());
        h.write(&l.to_le_bytes());
    }
    let readable: String = format!("sp-{}-{}", table.table, ranges.first().map_or(0, |r| r.2))
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(READABLE_CHARS)
        .collect();
    format!("{readable}-{:016x}", h.finish())
}

/// FNV-1a, 64 bit: stable across processes and versions (unlike `DefaultHasher`).
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Adds one field; fields are separated, so ("ab","c") and ("a","bc") differ.
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x100_0000_01b3);
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }

    /// The hash of one field.
    pub(crate) fn hash(bytes: &[u8]) -> u64 {
        let mut h = Fnv::default();
        h.write(bytes);
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::memory::MemoryBudget;
    use crate::engine::offsets::OffsetTracker;
    use crate::engine::testkit::{block, table};
    use crate::model::ChangeOp::Upsert;

    #[test]
    fn labels_are_deterministic_and_valid() {
        let t = Arc::new(table("db", "t"));
        let (tracker, budget) = (
            Arc::new(OffsetTracker::new(None)),
            Arc::new(MemoryBudget::new(1 << 20)),
        );
        let at = |v: &str, first| [block(&t, 0, &[(Upsert, "1", v)], first, &tracker, &budget)];
        let (a, b, c) = (at("a", 7), at("zzz", 7), at("a", 8));
        assert_eq!(label("job", &t, &a), label("job", &t, &b));
        assert_ne!(label("job", &t, &a), label("job", &t, &c));
        assert_ne!(label("job", &t, &a), label("other", &t, &a));
        let l = label("job", &t, &a);
        assert!(
            l.len() <= 128
                && l.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert!(l.starts_with("sp-t-7-"), "{l}");
    }

    #[test]
    fn fields_are_separated() {
        let mut ab = Fnv::default();
        ab.write(b"ab");
        ab.write(b"c");
        let mut a = Fnv::default();
        a.write(b"a");
        a.write(b"bc");
        assert_ne!(ab.finish(), a.finish());
    }
}
