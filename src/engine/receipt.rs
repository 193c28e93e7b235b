//! `Pending`: what a block owes until its load ended — its bytes in the memory budget
//! (invariant 3) and its claim in its partition's offset tracker (invariant 1). One type holds
//! both so that they end together, exactly once: `complete` after a successful load (the commit
//! may pass the block, the memory is free), `fail` when the block will never load (the memory is
//! free, the offset stays uncommitted and is replayed by the next run or owner).

use std::sync::Arc;

use super::lease::Lease;
use super::memory::Reservation;
use super::offsets::OffsetClaim;

#[derive(Debug)]
#[must_use = "a receipt is settled with `complete` or `fail`"]
pub(crate) struct Pending {
    claim: OffsetClaim,
    memory: Reservation,
    /// The assignment the rows were read under.
    lease: Arc<Lease>,
}

impl Pending {
    pub(crate) fn new(claim: OffsetClaim, memory: Reservation, lease: Arc<Lease>) -> Self {
        Pending {
            claim,
            memory,
            lease,
        }
    }

    /// The partition was revoked: the block must not load.
    pub(crate) fn is_fenced(&self) -> bool {
        self.lease.is_revoked()
    }

    pub(crate) fn lease(&self) -> &Lease {
        &self.lease
    }

    /// The block's rows are loaded.
    pub(crate) fn complete(self) {
        let Pending { claim, memory, .. } = self;
        drop(memory);
        claim.complete();
    }

    /// The block will never load: free its memory, keep its offset uncommitted.
    pub(crate) fn fail(self) {
        let Pending { claim, memory, .. } = self;
        drop(memory);
        drop(claim);
    }

    /// Frees the memory now and keeps the offset outstanding until the returned claim
    /// completes (rows handed to the dead-letter producer, acknowledged later).
    pub(crate) fn into_claim(self) -> OffsetClaim {
        let Pending { claim, memory, .. } = self;
        drop(memory);
        claim
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::blocks::PartitionId;
    use crate::engine::lease::Epochs;
    use crate::engine::memory::MemoryBudget;
    use crate::engine::offsets::OffsetTracker;

    fn pending(budget: &Arc<MemoryBudget>, tracker: &Arc<OffsetTracker>) -> Pending {
        let mut memory = Reservation::empty(budget);
        assert!(memory.try_grow(10));
        let lease = Arc::new(Epochs::default().lease(PartitionId::new("t", 0)));
        Pending::new(tracker.claim(7), memory, lease)
    }

    #[test]
    fn complete_frees_memory_and_passes_the_offset() {
        let (budget, tracker) = (
            Arc::new(MemoryBudget::new(100)),
            Arc::new(OffsetTracker::new(Some(7))),
        );
        let p = pending(&budget, &tracker);
        tracker.polled(7);
        assert_eq!((budget.used(), tracker.committable()), (10, Some(7)));
        p.complete();
        assert_eq!((budget.used(), tracker.committable()), (0, Some(8)));
    }

    #[test]
    fn fail_frees_memory_and_holds_the_offset() {
        let (budget, tracker) = (
            Arc::new(MemoryBudget::new(100)),
            Arc::new(OffsetTracker::new(Some(7))),
        );
        let p = pending(&budget, &tracker);
        tracker.polled(7);
        p.fail();
        assert_eq!((budget.used(), tracker.committable()), (0, Some(7)));
    }

    #[test]
    fn into_claim_frees_memory_first() {
        let (budget, tracker) = (
            Arc::new(MemoryBudget::new(100)),
            Arc::new(OffsetTracker::new(Some(7))),
        );
        let claim = pending(&budget, &tracker).into_claim();
        tracker.polled(7);
        assert_eq!((budget.used(), tracker.committable()), (0, Some(7)));
        claim.complete();
        assert_eq!(tracker.committable(), Some(8));
    }
}
