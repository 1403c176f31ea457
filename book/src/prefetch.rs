//! Software prefetch, the one place this crate uses `unsafe`.
//!
//! A whole-market book is far larger than the caches, so each message costs a
//! few dependent cache misses (hash slot → order slot → level slot). When the
//! caller knows upcoming messages (a MoldUDP64 packet carries several, a
//! replay has them all), [`Book::prefetch`](crate::Book::prefetch) lets it
//! start those misses early and overlap them; see [`PrefetchHint`](crate::PrefetchHint).

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
