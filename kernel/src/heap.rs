//! The start-up heap: a bump allocator over a fixed budget, sealed when the
//! appliance starts trading.
//!
//! Tables sized by configuration (the order book's order table, risk's
//! per-symbol rows, the OMS's order slots) are allocated once while the
//! appliance starts. After [`BumpHeap::seal`] every allocation fails and is
//! counted, and the allocation-error handler stops the run with a clear
//! message: "allocation-free after start-up" is enforced, not hoped for.
//! Freeing is a no-op (counted): start-up allocations live for the run.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

pub struct BumpHeap {
    next: AtomicUsize,
    end: AtomicUsize,
    sealed: AtomicBool,
    pub allocations: AtomicU64,
    pub refused: AtomicU64,
    pub frees: AtomicU64,
}

impl BumpHeap {
    pub const fn new() -> BumpHeap {
        BumpHeap {
            next: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
            sealed: AtomicBool::new(false),
            allocations: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            frees: AtomicU64::new(0),
        }
    }

    /// Hands the heap `[start, start + len)`.
    ///
    /// # Safety
    /// The range must be writable memory owned by the heap for the rest of
    /// the run; call once, before the first allocation.
    #[allow(unsafe_code)]
    pub unsafe fn init(&self, start: usize, len: usize) {
        self.end.store(start.saturating_add(len), Ordering::Release);
        self.next.store(start, Ordering::Release);
    }

    /// From now on every allocation fails.
    pub fn seal(&self) {
        self.sealed.store(true, Ordering::Release);
    }

    pub fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    pub fn remaining(&self) -> usize {
        self.end
            .load(Ordering::Acquire)
            .saturating_sub(self.next.load(Ordering::Acquire))
    }

    /// The address for `layout`, or `None` (sealed, uninitialised or full).
    pub fn bump(&self, layout: Layout) -> Option<usize> {
        if self.sealed.load(Ordering::Acquire) {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let end = self.end.load(Ordering::Acquire);
        let mut current = self.next.load(Ordering::Relaxed);
        loop {
            let start = current.checked_next_multiple_of(layout.align())?;
            let new_next = start.checked_add(layout.size())?;
            if current == 0 || new_next > end {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            match self.next.compare_exchange_weak(
                current,
                new_next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.allocations.fetch_add(1, Ordering::Relaxed);
                    return Some(start);
                }
                Err(seen) => current = seen,
            }
        }
    }
}

impl Default for BumpHeap {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: `bump` hands out disjoint, aligned ranges of the memory `init`
// was given (the CAS makes concurrent callers disjoint); null on failure.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for BumpHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.bump(layout)
            .map_or(core::ptr::null_mut(), |a| a as *mut u8)
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {
        self.frees.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    fn heap(len: usize) -> (BumpHeap, std::vec::Vec<u8>) {
        let region = std::vec![0u8; len];
        let h = BumpHeap::new();
        // SAFETY: the test keeps the region alive while using the heap.
        #[allow(unsafe_code)]
        unsafe {
            h.init(region.as_ptr() as usize, len)
        };
        (h, region)
    }

    #[test]
    fn aligned_disjoint_then_full_then_sealed() {
        let (h, region) = heap(4096);
        let base = region.as_ptr() as usize;
        let a = h.bump(Layout::from_size_align(10, 1).unwrap()).unwrap();
        let b = h.bump(Layout::from_size_align(64, 64).unwrap()).unwrap();
        assert!(a >= base && a + 10 <= b && b % 64 == 0);
        assert!(
            h.bump(Layout::from_size_align(8192, 8).unwrap()).is_none(),
            "over budget"
        );
        assert!(h.bump(Layout::from_size_align(100, 8).unwrap()).is_some());
        h.seal();
        assert!(h.bump(Layout::from_size_align(1, 1).unwrap()).is_none());
        assert_eq!(h.allocations.load(Ordering::Relaxed), 3);
        assert_eq!(h.refused.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn uninitialised_heap_refuses() {
        let h = BumpHeap::new();
        assert!(h.bump(Layout::from_size_align(8, 8).unwrap()).is_none());
    }

    #[test]
    fn concurrent_allocations_never_overlap() {
        let (h, _region) = heap(1 << 20);
        let h = &h;
        let mut all: std::vec::Vec<usize> = std::thread::scope(|s| {
            let handles: std::vec::Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(move || {
                        (0..1000)
                            .filter_map(|_| h.bump(Layout::from_size_align(32, 16).unwrap()))
                            .collect::<std::vec::Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        all.sort_unstable();
        assert_eq!(all.len(), 4000);
        assert!(all.windows(2).all(|w| w[0] + 32 <= w[1]));
    }
}
