//! `Lease`: one assignment of a partition to this instance — its epoch. Every block carries the
//! lease its rows were read under. A revoked or lost partition's lease is revoked when its
//! revocation ends, and from then on its blocks never load: a flusher drops them before every
//! load attempt. Otherwise a late load of the old owner could land after the new owner loaded
//! newer rows of the same keys, rolling them back for good.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::blocks::PartitionId;

#[derive(Debug)]
pub(crate) struct Lease {
    partition: PartitionId,
    epoch: u64,
    revoked: AtomicBool,
}

/// Hands out epochs: every assignment of a partition gets a new one.
#[derive(Debug, Default)]
pub(crate) struct Epochs(AtomicU64);

impl Epochs {
    pub(crate) fn lease(&self, partition: PartitionId) -> Lease {
        Lease {
            partition,
            epoch: self.0.fetch_add(1, Ordering::Relaxed) + 1,
            revoked: AtomicBool::new(false),
        }
    }
}

impl Lease {
    pub(crate) fn partition(&self) -> &PartitionId {
        &self.partition
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The partition is no longer ours: nothing read under this lease may load.
    pub(crate) fn revoke(&self) {
        self.revoked.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_assignment_has_its_own_epoch() {
        let epochs = Epochs::default();
        let (a, b) = (
            epochs.lease(PartitionId::new("t", 0)),
            epochs.lease(PartitionId::new("t", 0)),
        );
        assert_ne!(a.epoch(), b.epoch());
        a.revoke();
        assert!(a.is_revoked() && !b.is_revoked());
    }
}
