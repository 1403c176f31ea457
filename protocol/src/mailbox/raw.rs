//! The only place in the mailbox that touches the shared region through raw
//! pointers.
//!
//! The region is memory shared with another process, another virtual machine
//! or another physical machine. Nothing the other side writes may ever be
//! read through a plain Rust reference: every access below is an atomic load
//! or store on one aligned 64-bit word, created with `AtomicU64::from_ptr` at
//! the moment of use. Payload bytes are moved word by word with relaxed
//! atomics, so a concurrent writer can at worst make us read a mix of old and
//! new words (which the ring and seqlock protocols above detect), never undefined
//! behaviour.
//!
//! Every accessor is bounds- and alignment-checked against the region length
//! and returns `None` instead of touching memory outside it.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};

/// Size of one region word; every offset in the mailbox is a multiple of it.
pub const WORD: usize = 8;

/// A shared-memory region: base pointer and length, nothing else.
///
/// Copying a `Region` copies the pointer, not the memory.
#[derive(Clone, Copy)]
pub struct Region {
    base: *mut u8,
    len: usize,
}

impl core::fmt::Debug for Region {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Region")
            .field("base", &self.base)
            .field("len", &self.len)
            .finish()
    }
}

// SAFETY: a `Region` is only a pointer and a length; every access through it
// is an atomic operation on an aligned word, which is sound from any thread.
unsafe impl Send for Region {}
// SAFETY: as above — shared use from several threads only performs atomic
// operations, never creates references to the memory.
unsafe impl Sync for Region {}

/// Why a region was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionError {
    /// The base pointer is null or not 8-byte aligned.
    Misaligned,
    /// The length is not a multiple of 8 or is too small for a header.
    BadLength,
}

impl Region {
    /// Wraps `len` bytes at `base`.
    ///
    /// # Safety
    /// For as long as the returned `Region` (or any copy) is used:
    /// `base..base+len` must be mapped, readable and writable; and nothing in
    /// this address space may access it except through `Region` (or other
    /// atomic word operations). Another process or machine may write it at any
    /// time and with any content — that is allowed and is what the checks in
    /// the mailbox are for.
    pub unsafe fn new(base: *mut u8, len: usize) -> Result<Region, RegionError> {
        if base.is_null() || !(base as usize).is_multiple_of(WORD) {
            return Err(RegionError::Misaligned);
        }
        if !len.is_multiple_of(WORD) || len < 4096 {
            return Err(RegionError::BadLength);
        }
        Ok(Region { base, len })
    }

    /// Length of the region in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: a region is at least one page (kept for clippy's sake).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn word(&self, offset: usize) -> Option<&AtomicU64> {
        if !offset.is_multiple_of(WORD) || offset.checked_add(WORD)? > self.len {
            return None;
        }
        // SAFETY: just checked: aligned and `offset + 8 <= len`.
        Some(unsafe { self.word_unchecked(offset) })
    }

    /// # Safety
    /// `offset` is a multiple of 8 and `offset + 8 <= self.len`.
    unsafe fn word_unchecked(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset.is_multiple_of(WORD) && offset + WORD <= self.len);
        // SAFETY: the word lies inside the mapped region (caller's contract plus
        // that of `Region::new`); `base` and `offset` are multiples of 8, so the
        // pointer is aligned for `AtomicU64`; the memory is only ever accessed
        // atomically (contract of `Region::new`), so nothing non-atomic races.
        unsafe { AtomicU64::from_ptr(self.base.add(offset).cast::<u64>()) }
    }

    /// Checks that `bytes` bytes from `offset` lie in the region, word-aligned start.
    fn range_ok(&self, offset: usize, bytes: usize) -> bool {
        offset.is_multiple_of(WORD)
            && offset
                .checked_add(bytes.next_multiple_of(WORD))
                .is_some_and(|end| end <= self.len)
    }

    /// Atomic load of the word at `offset`.
    pub fn load(&self, offset: usize, order: Ordering) -> Option<u64> {
        Some(self.word(offset)?.load(order))
    }

    /// Atomic store of the word at `offset`; false if out of range.
    pub fn store(&self, offset: usize, value: u64, order: Ordering) -> bool {
        match self.word(offset) {
            Some(w) => {
                w.store(value, order);
                true
            }
            None => false,
        }
    }

    /// Atomic compare-and-exchange of the word at `offset` (acquire-release):
    /// `Ok(current)` if it held `current` and now holds `new`, `Err(actual)`
    /// otherwise; `None` if out of range.
    pub fn compare_exchange(
        &self,
        offset: usize,
        current: u64,
        new: u64,
    ) -> Option<Result<u64, u64>> {
        Some(
            self.word(offset)?
                .compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire),
        )
    }

    /// Copies `out.len()` bytes starting at `offset` out of the region with
    /// relaxed word loads. `offset` must be word-aligned. Returns false (and
    /// copies nothing) if the range is outside the region.
    pub fn read_bytes(&self, offset: usize, out: &mut [u8]) -> bool {
        if !self.range_ok(offset, out.len()) {
            return false;
        }
        for (i, chunk) in out.chunks_mut(WORD).enumerate() {
            // SAFETY: `range_ok` covered every word of `out`, rounded up.
            let v = unsafe { self.word_unchecked(offset + i * WORD) }.load(Ordering::Relaxed);
            chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
        }
        true
    }

    /// Copies `data` into the region at `offset` with relaxed word stores; the
    /// last word is zero-padded. Returns false (writing nothing) if out of range.
    pub fn write_bytes(&self, offset: usize, data: &[u8]) -> bool {
        if !self.range_ok(offset, data.len()) {
            return false;
        }
        for (i, chunk) in data.chunks(WORD).enumerate() {
            let mut bytes = [0u8; WORD];
            bytes[..chunk.len()].copy_from_slice(chunk);
            // SAFETY: `range_ok` covered every word of `data`, rounded up.
            unsafe { self.word_unchecked(offset + i * WORD) }
                .store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        }
        true
    }

    /// Copies `out.len()` words starting at `offset` with relaxed loads.
    pub fn read_words(&self, offset: usize, out: &mut [u64]) -> bool {
        let Some(bytes) = out.len().checked_mul(WORD) else {
            return false;
        };
        if !self.range_ok(offset, bytes) {
            return false;
        }
        for (i, slot) in out.iter_mut().enumerate() {
            // SAFETY: `range_ok` covered all `out.len()` words.
            *slot = unsafe { self.word_unchecked(offset + i * WORD) }.load(Ordering::Relaxed);
        }
        true
    }

    /// Sets `bytes` bytes from `offset` to zero (both word-aligned).
    pub fn zero(&self, offset: usize, bytes: usize) -> bool {
        let Some(end) = offset.checked_add(bytes) else {
            return false;
        };
        if !offset.is_multiple_of(WORD) || !bytes.is_multiple_of(WORD) || end > self.len {
            return false;
        }
        for i in (offset..end).step_by(WORD) {
            self.store(i, 0, Ordering::Relaxed);
        }
        true
    }
}

/// Heap memory standing in for a shared region in unit tests.
#[cfg(test)]
pub(crate) struct TestMem {
    _mem: std::boxed::Box<[u64]>,
    region: Region,
}

#[cfg(test)]
extern crate std;

#[cfg(test)]
impl TestMem {
    pub(crate) fn new(bytes: usize) -> TestMem {
        let mut mem = std::vec![0u64; bytes / WORD].into_boxed_slice();
        // SAFETY: the boxed slice is owned by `TestMem` and never moved out of
        // its heap allocation or touched except through the region; the region
        // is only handed out by `region()`, whose callers keep `TestMem` alive.
        let region = unsafe { Region::new(mem.as_mut_ptr().cast(), bytes) }.expect("test region");
        TestMem { _mem: mem, region }
    }

    pub(crate) fn region(&self) -> Region {
        self.region
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_out_of_range_and_misaligned_access() {
        let mut mem = [0u64; 512];
        // SAFETY: `mem` outlives `r` and is only accessed through `r` below.
        let r = unsafe { Region::new(mem.as_mut_ptr().cast(), 4096) }.unwrap();
        assert!(r.store(4088, 7, Ordering::Relaxed));
        assert_eq!(r.load(4088, Ordering::Relaxed), Some(7));
        assert_eq!(r.load(4096, Ordering::Relaxed), None);
        assert_eq!(r.load(3, Ordering::Relaxed), None);
        assert_eq!(r.load(usize::MAX - 3, Ordering::Relaxed), None);
        assert_eq!(r.compare_exchange(4088, 7, 9), Some(Ok(7)));
        assert_eq!(r.compare_exchange(4088, 7, 11), Some(Err(9)));
        assert_eq!(r.load(4088, Ordering::Relaxed), Some(9));
        assert_eq!(r.compare_exchange(4096, 0, 1), None);
        let mut out = [0u8; 9];
        assert!(!r.read_bytes(4088, &mut out));
        assert!(!r.write_bytes(4090, b"x"));
        assert!(r.write_bytes(8, b"hello world"));
        assert!(r.read_bytes(8, &mut out));
        assert_eq!(&out, b"hello wor");
        // SAFETY: length refused before any access.
        assert_eq!(
            unsafe { Region::new(mem.as_mut_ptr().cast(), 4095) }.unwrap_err(),
            RegionError::BadLength
        );
    }
}
