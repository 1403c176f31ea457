//! The vector steps of the SOH scan: which bytes of a 16-byte block are
//! SOHs, and the running byte sum for the CheckSum, from one load. SSE2 is
//! part of the x86-64 baseline, so every x86-64 CPU runs them; two forms:
//!
//! - intrinsics (`cfg(fix_scan = "sse2")`, hosts): one block a call, the
//!   sum kept in a vector register between calls;
//! - inline assembly (`cfg(fix_scan = "asm")`, the appliance): the
//!   bare-metal target `x86_64-unknown-none` is soft-float, and there LLVM
//!   has no vector registers to allocate. `#[target_feature(enable =
//!   "sse2")]` is accepted without a warning but the intrinsics then
//!   compile to scalar code (a compare and a `sete` per byte), and asm
//!   operands or clobbers naming `xmm` registers are refused ("couldn't
//!   allocate output register"). So [`scan_asm`] does the whole body in one
//!   `asm!` block that saves and restores the three `xmm` registers it uses
//!   (it cannot declare them clobbered), writing one 16-bit SOH mask per
//!   block to memory. It needs SSE enabled in CR0/CR4 by the kernel before
//!   it runs (else `#UD`); see `kernel::arch::cpu::enable_sse`.
//!
//! The intrinsics and the assembly are `unsafe`; this module is the only
//! place in the decoder that uses either.
#![allow(unsafe_code)]

#[cfg(any(fix_scan = "sse2", all(test, target_feature = "sse2")))]
use super::SOH;
#[cfg(any(fix_scan = "sse2", all(test, target_feature = "sse2")))]
use core::arch::x86_64::{
    __m128i, _mm_add_epi64, _mm_and_si128, _mm_cmpeq_epi8, _mm_cvtsi128_si64, _mm_loadu_si128,
    _mm_movemask_epi8, _mm_sad_epu8, _mm_set1_epi8, _mm_setzero_si128, _mm_unpackhi_epi64,
};

/// 0x00 sixteen times, then 0xFF sixteen times: sixteen bytes from
/// `16 - k` keep all but the first `k` bytes of a block.
#[cfg(any(fix_scan = "sse2", all(test, target_feature = "sse2")))]
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
#[cfg(any(fix_scan = "sse2", all(test, target_feature = "sse2")))]
pub(super) struct ByteSum(__m128i);

#[cfg(any(fix_scan = "sse2", all(test, target_feature = "sse2")))]
impl ByteSum {
    #[inline(always)]
    pub(super) fn new() -> ByteSum {
        // SAFETY: SSE2 is enabled wherever this part is compiled (the
        // target has the `sse2` feature), which is all the intrinsic requires.
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
#[cfg(any(fix_scan = "sse2", all(test, target_feature = "sse2")))]
#[inline(always)]
pub(super) fn scan_block(block: &[u8; 16], from: usize, sum: &mut ByteSum) -> u32 {
    // SAFETY: SSE2 is enabled wherever this part is compiled, which is
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

// ------------------------------------------------------------ assembly

/// Blocks [`scan_asm`] may write: one per 16 bytes of the longest
/// message, and the last block.
#[cfg(any(fix_scan = "asm", test))]
pub(super) const MAX_BLOCKS: usize = super::MAX_MESSAGE_LEN / 16 + 1;

/// Constants of [`scan_asm`], 16-byte aligned for the memory operands of
/// `pcmpeqb` and `psadbw` (SDM Vol. 1 §4.1.1: a legacy SSE instruction
/// raises #GP on an unaligned 128-bit memory operand).
#[cfg(any(fix_scan = "asm", test))]
#[repr(C, align(16))]
struct Constants {
    /// 0x00 sixteen times, then 0xFF sixteen times: sixteen bytes from
    /// `16 - k` keep all but the first `k` bytes of a block.
    keep_from: [u8; 32],
    /// SOH sixteen times.
    sohs: [u8; 16],
    /// Zero, for the sum of absolute differences.
    zero: [u8; 16],
}

#[cfg(any(fix_scan = "asm", test))]
static CONSTANTS: Constants = Constants {
    keep_from: {
        let mut t = [0u8; 32];
        let mut i = 16;
        while i < 32 {
            t[i] = 0xFF;
            i += 1;
        }
        t
    },
    sohs: [SOH_BYTE; 16],
    zero: [0; 16],
};
#[cfg(any(fix_scan = "asm", test))]
const SOH_BYTE: u8 = super::SOH;

/// Room for the SOH masks [`scan_asm`] writes: left uninitialised (2 KiB,
/// cleared per message it would cost more than the scan).
///
/// Nothing else is in it: with an initialised field next to the array
/// (the count of masks written, set to 0), LLVM merged that store and the
/// uninitialised bytes into a 2 KiB `memset` (2,074 instructions a
/// message).
#[cfg(any(fix_scan = "asm", test))]
pub(super) struct BlockMasks(core::mem::MaybeUninit<[u16; MAX_BLOCKS]>);

#[cfg(any(fix_scan = "asm", test))]
impl BlockMasks {
    #[inline(always)]
    pub(super) fn new() -> BlockMasks {
        BlockMasks(core::mem::MaybeUninit::uninit())
    }
}

/// The masks [`scan_asm`] wrote.
#[cfg(any(fix_scan = "asm", test))]
pub(super) struct Masks<'a> {
    room: &'a BlockMasks,
    written: usize,
}

#[cfg(any(fix_scan = "asm", test))]
impl Masks<'_> {
    /// The mask of block `i`, if [`scan_asm`] wrote it.
    #[inline(always)]
    pub(super) fn get(&self, i: usize) -> Option<u16> {
        if i < self.written {
            // SAFETY: `scan_asm` wrote masks `0..written` of `room`, and
            // `written <= MAX_BLOCKS`, so `i` is inside the array and
            // initialised.
            Some(unsafe { self.room.0.as_ptr().cast::<u16>().add(i).read() })
        } else {
            None
        }
    }
}

/// Scans `body` (16 to [`super::MAX_MESSAGE_LEN`] bytes) with SSE2 in one
/// `asm!` block. With `full = body.len() / 16` and `from = 16 * full -
/// (body.len() - 16)` (1..=16), mask `i < full` of `masks` has bit `k` set
/// when `body[16 * i + k]` is an SOH, and mask `full` bit `k` when
/// `body[body.len() - 16 + k]` is: the last sixteen bytes, of which the
/// first `from` were already in block `full - 1` (the caller shifts them
/// out). Returns `full`, the masks and the sum of the bytes of `body`
/// (each counted once); `None` when the length is out of range.
///
/// The CPU must have SSE enabled (CR0.EM clear, CR4.OSFXSR set): on the
/// appliance the kernel does this on every core at bring-up
/// (`kernel::arch::cpu::enable_sse`), on a host the operating system has.
#[cfg(any(fix_scan = "asm", test))]
#[inline(always)]
pub(super) fn scan_asm<'a>(
    body: &[u8],
    masks: &'a mut BlockMasks,
) -> Option<(usize, Masks<'a>, u64)> {
    if body.len() < 16 || body.len() > super::MAX_MESSAGE_LEN {
        return None;
    }
    let full = body.len() / 16;
    let from = 16 * full - (body.len() - 16);
    let last = body.get(body.len() - 16..)?;
    let keep = CONSTANTS.keep_from.get(16 - from..32 - from)?;
    /// Where the caller's `xmm0`..`xmm2` wait while the scan uses them.
    #[repr(C, align(16))]
    struct Saved([u8; 48]);
    let mut saved = core::mem::MaybeUninit::<Saved>::uninit();
    let sum: u64;
    // SAFETY: reads `full` blocks of 16 bytes from `body` (`16 * full <=
    // body.len()`), its last 16 bytes (`last`), 16 bytes of `keep` and of
    // `CONSTANTS` (its 16-aligned `sohs` at +32 and `zero` at +48, as
    // `pcmpeqb` and `psadbw` require of a memory operand); writes `full +
    // 1 <= MAX_BLOCKS` masks to `masks.0` and 48 bytes to `saved`
    // (16-aligned for `movdqa`). `xmm0`..`xmm2` are not declared as
    // clobbered (on the soft-float target they cannot be): they are saved
    // first and restored last, so every register but the declared outputs
    // leaves as it came. `full >= 1`, so the loop runs at least once. The
    // instructions are SSE2, which every x86-64 CPU has; the caller's
    // contract (SSE enabled) makes them legal.
    unsafe {
        core::arch::asm!(
            "movdqa xmmword ptr [{saved}], xmm0",
            "movdqa xmmword ptr [{saved} + 16], xmm1",
            "movdqa xmmword ptr [{saved} + 32], xmm2",
            "pxor xmm2, xmm2",
            "2:",
            "movdqu xmm0, xmmword ptr [{p}]",
            "movdqa xmm1, xmm0",
            "pcmpeqb xmm1, xmmword ptr [{k} + 32]",
            "pmovmskb {bits:e}, xmm1",
            "mov word ptr [{out}], {bits:x}",
            "psadbw xmm0, xmmword ptr [{k} + 48]",
            "paddq xmm2, xmm0",
            "add {p}, 16",
            "add {out}, 2",
            "dec {n}",
            "jnz 2b",
            // The last sixteen bytes: the SOHs of all, the sum of those
            // not seen yet.
            "movdqu xmm0, xmmword ptr [{last}]",
            "movdqa xmm1, xmm0",
            "pcmpeqb xmm1, xmmword ptr [{k} + 32]",
            "pmovmskb {bits:e}, xmm1",
            "mov word ptr [{out}], {bits:x}",
            "movdqu xmm1, xmmword ptr [{keep}]",
            "pand xmm0, xmm1",
            "psadbw xmm0, xmmword ptr [{k} + 48]",
            "paddq xmm2, xmm0",
            // The two 64-bit lanes added.
            "pshufd xmm0, xmm2, 0xEE",
            "paddq xmm2, xmm0",
            "movq {sum}, xmm2",
            "movdqa xmm0, xmmword ptr [{saved}]",
            "movdqa xmm1, xmmword ptr [{saved} + 16]",
            "movdqa xmm2, xmmword ptr [{saved} + 32]",
            p = inout(reg) body.as_ptr() => _,
            n = inout(reg) full => _,
            out = inout(reg) masks.0.as_mut_ptr().cast::<u16>() => _,
            last = in(reg) last.as_ptr(),
            keep = in(reg) keep.as_ptr(),
            k = in(reg) &CONSTANTS,
            saved = in(reg) saved.as_mut_ptr(),
            bits = out(reg) _,
            sum = out(reg) sum,
            options(nostack),
        );
    }
    let masks = Masks {
        room: masks,
        written: full + 1,
    };
    Some((full, masks, sum))
}
