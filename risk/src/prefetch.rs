//! Software prefetch, the one place this crate uses `unsafe`.
//!
//! A new order's checks end in two hash-addressed tables (the duplicate
//! window's bucket and the order-id map), whose lines are usually not in the
//! first-level cache. Their addresses are known from the order's terms at
//! the start of the check, so the check asks for them then and the misses
//! overlap the arithmetic of the limit checks instead of following it.

/// Asks the CPU to bring the cache line holding `value` closer.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: PREFETCHT0 is a hint with no architectural effect and never
    // faults, whatever the address (here a valid reference anyway). SSE, the
    // feature the intrinsic is declared with, is part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (value as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
