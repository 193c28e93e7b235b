//! `IdleHeap`: an idle partition worker gives back the memory its heap still holds for blocks
//! that flushers freed (invariant 3: RSS stays near `totalDataInMemMb` plus a fixed margin).
//!
//! A block's buffers are allocated on its partition worker and freed on a flusher, once loaded.
//! mimalloc 2.x (the binary's global allocator, `src/main.rs`) does not take such a free back
//! at once: it queues the block to the page's owner, the worker. The owner takes blocks over
//! 64 KiB back every 100 slow-path allocations (mimalloc's `page.c`) and smaller ones when it
//! next allocates their size, and returns emptied pages when it collects its heap. A worker
//! whose partitions went quiet allocates nothing, so the blocks freed after its last message
//! stayed resident: with four workers, the three whose partitions ended first held tens of MB
//! while the fourth filled the whole budget (perf/README.md, "Peak RSS: idle workers' heaps").
//! A worker therefore collects its heap every few idle rounds.

/// Idle rounds between collections: about 100 ms while the worker polls empty queues (it waits up
/// to 20 ms a round), 600 ms while it has no partition. A busy worker never reaches it, so the
/// collection costs nothing on the data path.
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
        self.idle_rounds += 1;
        if self.idle_rounds == COLLECT_EVERY {
            self.idle_rounds = 0;
            (self.collect)();
        }
    }
}

/// Frees what other threads freed of this thread's mimalloc heap, and returns empty pages.
fn collect_thread_heap() {
    // SAFETY: `mi_collect` takes no pointers and may be called on any thread at any time: it
    // collects this thread's heap and looks at the process's abandoned segments and arenas
    // under mimalloc's own locks. Under another global allocator (the library's tests) this
    // thread's heap is mimalloc's empty placeholder, and it returns at once.
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
