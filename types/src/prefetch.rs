//! Software prefetch: a cache hint for the order book and the risk engine,
//! and the one place this crate uses `unsafe`.
//!
//! Where the address of a line a message or an order will need is known
//! before the line is needed (the next messages of a MoldUDP64 packet, the
//! hash slots an order's checks end in), asking for it early lets its miss
//! overlap other work instead of stalling the work that needs it.

/// Asks the CPU to bring the cache line holding `value` closer.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
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
