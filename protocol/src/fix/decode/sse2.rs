//! The two vector steps of the SOH scan on x86-64 hosts (SSE2 is part of
//! the x86-64 baseline): which bytes of a 16-byte block are SOHs, and the
//! running byte sum for the CheckSum, from one load. The bare-metal target
//! has no vector registers and scans a word at a time instead.
//!
//! The intrinsics are `unsafe` to call; this module is the only place in
//! the decoder that does.
#![allow(unsafe_code)]

use super::SOH;
use core::arch::x86_64::{
    __m128i, _mm_add_epi64, _mm_and_si128, _mm_cmpeq_epi8, _mm_cvtsi128_si64, _mm_loadu_si128,
    _mm_movemask_epi8, _mm_sad_epu8, _mm_set1_epi8, _mm_setzero_si128, _mm_unpackhi_epi64,
};

/// 0x00 sixteen times, then 0xFF sixteen times: sixteen bytes from
/// `16 - k` keep all but the first `k` bytes of a block.
static KEEP_FROM: [u8; 32] = {
    let mut t = [0u8; 32];
    let mut i = 16;
    while i < 32 {
        t[i] = 0xFF;
        i += 1;
    }
    t
};

/// A byte sum over blocks, in the two 64-bit lanes of a vector.
pub(super) struct ByteSum(__m128i);

impl ByteSum {
    #[inline(always)]
    pub(super) fn new() -> ByteSum {
        // SAFETY: SSE2 is enabled wherever this module is compiled (see
        // `decode.rs`), which is all the intrinsic requires.
        ByteSum(unsafe { _mm_setzero_si128() })
    }

    /// The sum of everything added (wrapping at 2^64, far above any
    /// message).
    #[inline(always)]
    pub(super) fn total(&self) -> u64 {
        // SAFETY: as in `new`.
        unsafe {
            let high = _mm_unpackhi_epi64(self.0, self.0);
            (_mm_cvtsi128_si64(self.0) as u64).wrapping_add(_mm_cvtsi128_si64(high) as u64)
        }
    }
}

/// Bit `k` set when byte `k` of `block` is an SOH; adds the block's bytes
/// from `from` on (0..16) to `sum`.
#[inline(always)]
pub(super) fn scan_block(block: &[u8; 16], from: usize, sum: &mut ByteSum) -> u32 {
    // SAFETY: SSE2 is enabled wherever this module is compiled, which is
    // all the intrinsics require; the unaligned loads read the sixteen
    // bytes of `block` and sixteen bytes of `KEEP_FROM` at `16 - from`
    // (`from` is clamped to 0..=16, so they are inside its 32).
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast());
        let bits = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(SOH as i8))) as u32;
        let keep = _mm_loadu_si128(KEEP_FROM.as_ptr().add(16 - from.min(16)).cast());
        let counted = if from == 0 { v } else { _mm_and_si128(v, keep) };
        sum.0 = _mm_add_epi64(sum.0, _mm_sad_epu8(counted, _mm_setzero_si128()));
        bits >> from.min(16)
    }
}
