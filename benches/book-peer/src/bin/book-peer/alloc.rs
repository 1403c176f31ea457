//! The global allocator: `hugealloc::HugeAlloc` (as feedgen's replay tool
//! uses it: blocks of 2 MiB and more on prefaulted huge pages, the rest from
//! the system allocator), with live and peak heap bytes counted while
//! [`start_counting`] is in force. Counting is only on during the untimed
//! check pass; in timed runs each allocation and release pays one relaxed
//! load and a not-taken branch.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};

use hugealloc::HugeAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);

pub struct Counted;

#[inline]
fn grew(bytes: usize) {
    if COUNTING.load(Relaxed) {
        let now = LIVE.fetch_add(bytes as i64, Relaxed) + bytes as i64;
        PEAK.fetch_max(now, Relaxed);
    }
}

#[inline]
fn shrank(bytes: usize) {
    if COUNTING.load(Relaxed) {
        LIVE.fetch_sub(bytes as i64, Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `HugeAlloc` (itself a sound
// global allocator) with the caller's guarantees; the counters are plain
// atomics and never affect what is allocated.
unsafe impl GlobalAlloc for Counted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { HugeAlloc.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { HugeAlloc.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { HugeAlloc.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { HugeAlloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }
}

/// Starts counting from zero.
pub fn start_counting() {
    LIVE.store(0, Relaxed);
    PEAK.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
}

/// Stops counting: net bytes allocated since [`start_counting`] (blocks
/// allocated before and released since count negative) and the most that
/// ever were.
pub fn stop_counting() -> (i64, i64) {
    COUNTING.store(false, Relaxed);
    (LIVE.load(Relaxed), PEAK.load(Relaxed))
}
