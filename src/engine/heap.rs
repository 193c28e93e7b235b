//! `IdleHeap`: an idle partition worker gives back the memory its heap still holds for blocks
//! that flushers freed (invariant 3: RSS stays near `totalDataInMemMb` plus a fixed margin).
//!
//! A block's buffers are allocated on its partition worker and freed on a flusher, once loaded.
//! mimalloc 2.x (the binary's global allocator, `src/main.rs`) does not take such a free back
//! at once for sizes up to 16 MiB: it queues the block to the page's owner, the worker, which
//! takes it back when it next allocates often enough (every 100 slow-path allocations,
//! mimalloc's `page.c`) or collects its heap. A worker whose partitions went quiet allocates
//! nothing, so the blocks freed after its last message stayed resident. In `perf/run`'s 4-thread
//! discard run the three partitions without the `wide` table end first; their workers' heaps then
//! held about 40 MB while the fourth filled the whole budget, and the peak RSS was 166–176 MB
//! against the goal's 164. A worker now collects its heap every [`COLLECT_EVERY`] idle rounds.

/// Idle rounds between collections: about 100 ms at the worker's 20 ms wait. A busy worker never
/// reaches it, so the collection costs nothing on the data path.
const COLLECT_EVERY: u32 = 5;

/// Counts a worker's idle rounds and collects its thread's heap every [`COLLECT_EVERY`] of them.
pub(crate) struct IdleHeap {
    idle_rounds: u32,
    collect: fn(),
}

impl IdleHeap {
    pub(crate) fn new() -> Self {
        IdleHeap {
            idle_rounds: 0,
            collect: collect_thread_heap,
        }
    }

    /// The worker's last round consumed messages.
    pub(crate) fn busy(&mut self) {
        self.idle_rounds = 0;
    }

    /// The worker's last round found nothing to consume (or it has no partition).
    pub(crate) fn idle(&mut self) {
        self.idle_rounds = self.idle_rounds.wrapping_add(1);
        if self.idle_rounds.is_multiple_of(COLLECT_EVERY) {
            (self.collect)();
        }
    }
}

/// Frees what other threads freed of this thread's mimalloc heap, and returns empty pages.
fn collect_thread_heap() {
    // SAFETY: `mi_collect` takes no pointers and may be called on any thread at any time. Under
    // another global allocator (the library's tests) it only looks at mimalloc's heap for this
    // thread, which is then uninitialised or empty.
    unsafe { libmimalloc_sys::mi_collect(false) }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static COLLECTED: AtomicUsize = AtomicUsize::new(0);

    fn count() {
        COLLECTED.fetch_add(1, Ordering::Relaxed);
    }

    #[test]
    fn collects_every_few_idle_rounds_and_never_when_busy() {
        let mut heap = IdleHeap {
            idle_rounds: 0,
            collect: count,
        };
        for _ in 0..COLLECT_EVERY - 1 {
            heap.idle();
        }
        heap.busy();
        for _ in 0..COLLECT_EVERY - 1 {
            heap.idle();
        }
        assert_eq!(
            COLLECTED.load(Ordering::Relaxed),
            0,
            "busy restarts the count"
        );
        heap.idle();
        assert_eq!(COLLECTED.load(Ordering::Relaxed), 1);
        for _ in 0..COLLECT_EVERY {
            heap.idle();
        }
        assert_eq!(COLLECTED.load(Ordering::Relaxed), 2, "and again while idle");
    }

    #[test]
    fn collecting_without_mimalloc_as_the_allocator_is_harmless() {
        let mut heap = IdleHeap::new();
        for _ in 0..COLLECT_EVERY {
            heap.idle();
        }
    }
}
