//! Stream Load labels. Within a run, the same batch (same job, table, source offset ranges and
//! assignments) always gets the same label, so a retry is recognised by StarRocks. A partition
//! assigned to this run again (a lost assignment, a commit that failed on revocation) replays
//! from its committed offset under a new lease epoch, so its batches get new labels: the earlier
//! assignment's load of the same offsets may have landed, and `Label Already Exists` would stop
//! the job although nothing is wrong. Across runs labels never repeat: each run has its own
//! [`RunId`], part of every label. A replay after a restart, a re-sync (truncate + reset), a
//! recreated topic or a second cluster with the same group then loads its rows again instead of
//! StarRocks answering `Label Already Exists` for the earlier run's loads — which would count
//! rows as loaded that never were. Replaying upserts and deletes in order on a Primary Key table
//! converges, so cross-run deduplication is not needed.
//! Labels allow `[-_A-Za-z0-9]`, at most 128 characters.

use super::blocks::Block;
use crate::schema::TargetTable;

/// StarRocks' longest label.
const MAX_LABEL: usize = 128;

/// One run of `starpipe run`: its start time and a random part, in hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunId(String);

impl RunId {
    pub(crate) fn new() -> RunId {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        // RandomState is seeded from the OS: two runs started in the same millisecond differ.
        let random = std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            (std::process::id(), now.subsec_nanos()),
        );
        RunId(format!("{:x}{:04x}", now.as_millis(), random & 0xffff))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `sp-<table>-<first offset>-<run>-<hash of job, run, table, offset ranges and their leases>`.
pub(crate) fn label(job: &str, run: &RunId, table: &TargetTable, blocks: &[Block]) -> String {
    let mut ranges: Vec<(&str, i32, i64, i64, u64)> = blocks
        .iter()
        .map(|b| {
            let p = &b.partition;
            let epoch = b.pending.lease().epoch();
            (
                &*p.topic,
                p.partition,
                *b.offsets.start(),
                *b.offsets.end(),
                epoch,
            )
        })
        .collect();
    ranges.sort();
    let mut h = Fnv::default();
    h.write(job.as_bytes());
    h.write(run.as_str().as_bytes());
    h.write(table.db.as_bytes());
    h.write(table.table.as_bytes());
    for (t, p, f, l, epoch) in &ranges {
        h.write(t.as_bytes());
        h.write(&p.to_le_bytes());
        h.write(&f.to_le_bytes());
        h.write(&l.to_le_bytes());
        h.write(&epoch.to_le_bytes());
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
        .take(MAX_LABEL - run.as_str().len() - 18)
        .collect();
    format!("{readable}-{run}-{:016x}", h.finish())
}

/// The label of a part of a batch: the batch's label with its hash replaced by one of (batch
/// label, `part`) — as long, as readable, and as stable across retries.
pub(crate) fn sub_label(label: &str, part: &str) -> String {
    let base = label.rsplit_once('-').map_or(label, |(base, _)| base);
    let mut h = Fnv::default();
    h.write(label.as_bytes());
    h.write(part.as_bytes());
    format!("{base}-{:016x}", h.finish())
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
    use crate::engine::blocks::PartitionId;
    use crate::engine::lease::{Epochs, Lease};
    use crate::engine::memory::MemoryBudget;
    use crate::engine::offsets::OffsetTracker;
    use crate::engine::testkit::{block, leased_block, table};
    use crate::model::ChangeOp::Upsert;

    /// What a test block's receipt needs: an offset tracker and a memory budget.
    fn receipts() -> (Arc<OffsetTracker>, Arc<MemoryBudget>) {
        (
            Arc::new(OffsetTracker::new(None)),
            Arc::new(MemoryBudget::new(1 << 20)),
        )
    }

    #[test]
    fn labels_are_deterministic_and_valid() {
        let t = Arc::new(table("db", "t"));
        let (tracker, budget) = receipts();
        let at = |v: &str, first| [block(&t, 0, &[(Upsert, "1", v)], first, &tracker, &budget)];
        let (a, b, c) = (at("a", 7), at("zzz", 7), at("a", 8));
        let run = RunId::new();
        assert_eq!(label("job", &run, &t, &a), label("job", &run, &t, &b));
        assert_ne!(label("job", &run, &t, &a), label("job", &run, &t, &c));
        assert_ne!(label("job", &run, &t, &a), label("other", &run, &t, &a));
        let l = label("job", &run, &t, &a);
        assert!(l.starts_with(&format!("sp-t-7-{run}-")), "{l}");
    }

    #[test]
    fn runs_never_share_a_label() {
        let t = Arc::new(table("db", "t"));
        let (tracker, budget) = receipts();
        let blocks = [block(&t, 0, &[(Upsert, "1", "a")], 7, &tracker, &budget)];
        let (first, second) = (RunId::new(), RunId::new());
        assert_ne!(first, second);
        assert_ne!(
            label("job", &first, &t, &blocks),
            label("job", &second, &t, &blocks)
        );
    }

    #[test]
    fn a_partition_assigned_again_loads_under_new_labels() {
        let t = Arc::new(table("db", "t"));
        let (tracker, budget) = receipts();
        let epochs = Epochs::default();
        let under = |lease: Lease| {
            let rows = &[(Upsert, "1", "a")];
            [leased_block(
                &t,
                rows,
                7,
                &tracker,
                &budget,
                Arc::new(lease),
            )]
        };
        let first = under(epochs.lease(PartitionId::new("t", 0)));
        let again = under(epochs.lease(PartitionId::new("t", 0)));
        let run = RunId::new();
        assert_ne!(
            label("job", &run, &t, &first),
            label("job", &run, &t, &again)
        );
    }

    #[test]
    fn long_names_stay_within_the_label_rules() {
        let long = "x".repeat(200);
        let t = Arc::new(table("db", &long));
        let (tracker, budget) = receipts();
        let blocks = [block(
            &t,
            0,
            &[(Upsert, "1", "a")],
            i64::MAX - 1,
            &tracker,
            &budget,
        )];
        let l = label("job", &RunId::new(), &t, &blocks);
        assert!(
            l.len() <= MAX_LABEL
                && l.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "{l}"
        );
    }

    #[test]
    fn sub_labels_are_stable_distinct_and_as_long() {
        let l = "sp-t-7-1a2b-00112233445566ff";
        assert_eq!(sub_label(l, "0"), sub_label(l, "0"));
        assert_ne!(sub_label(l, "0"), sub_label(l, "1"));
        assert_eq!(sub_label(l, "01").len(), l.len());
        assert!(sub_label(l, "1").starts_with("sp-t-7-1a2b-"));
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
