//! Device register access.
//!
//! Drivers are generic over [`Registers`] so the same code runs against the
//! real BAR ([`Mmio`], volatile loads and stores, monomorphised to single
//! `mov`s) and against the test model's trapping register file (which also
//! counts tail writes and emulates clear-on-read counters).
#![allow(unsafe_code)]

use core::ptr::NonNull;
use volatile::VolatilePtr;

/// 32-bit register file addressed by byte offset.
pub trait Registers {
    fn read(&self, offset: u32) -> u32;
    fn write(&self, offset: u32, value: u32);
    /// Reads a statistics register. On the 82599 these clear on read; the
    /// hardware does that itself, a model has to emulate it here.
    fn read_stat(&self, offset: u32) -> u32 {
        self.read(offset)
    }
    fn set_bits(&self, offset: u32, bits: u32) {
        self.write(offset, self.read(offset) | bits);
    }
    fn clear_bits(&self, offset: u32, bits: u32) {
        self.write(offset, self.read(offset) & !bits);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarError {
    /// The BAR is smaller than the register file the driver uses.
    TooSmall { len: usize, needed: usize },
    /// The base is not 4-byte aligned.
    Misaligned,
}

/// A memory-mapped BAR, accessed with volatile 32-bit loads and stores.
pub struct Mmio {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the BAR mapping is device memory, valid from any core; the driver
// that owns this handle is the only user.
unsafe impl Send for Mmio {}

impl Mmio {
    /// Wraps a mapped BAR, checking once that it holds `needed` bytes.
    ///
    /// # Safety
    /// `[base, base + len)` must be the device's register BAR (or memory
    /// standing in for it), mapped uncached for device memory, valid for the
    /// life of this value and used by no other driver.
    pub unsafe fn new(base: NonNull<u8>, len: usize, needed: usize) -> Result<Self, BarError> {
        if len < needed {
            return Err(BarError::TooSmall { len, needed });
        }
        if !(base.as_ptr() as usize).is_multiple_of(4) {
            return Err(BarError::Misaligned);
        }
        Ok(Mmio { base, len })
    }

    #[inline(always)]
    fn reg(&self, offset: u32) -> Option<VolatilePtr<'_, u32>> {
        let off = offset as usize & !3;
        if off + 4 > self.len {
            return None;
        }
        // SAFETY: `off + 4 <= len` and the BAR is valid for `len` bytes (the
        // `new` contract); `off` is 4-aligned and so is `base`.
        Some(unsafe { VolatilePtr::new(self.base.add(off).cast::<u32>()) })
    }
}

impl Registers for Mmio {
    #[inline(always)]
    fn read(&self, offset: u32) -> u32 {
        // Out-of-range offsets cannot come from the drivers (constants and
        // validated queue indices); reading 0 keeps the type sound anyway.
        self.reg(offset).map_or(0, |r| r.read())
    }

    #[inline(always)]
    fn write(&self, offset: u32, value: u32) {
        if let Some(r) = self.reg(offset) {
            r.write(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_checked_once_and_per_access() {
        let mut mem = std::vec![0u32; 16];
        let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: `mem` outlives `bar` and is 64 bytes of plain memory.
        let bar = unsafe { Mmio::new(base, 64, 64) }.unwrap();
        bar.write(8, 0xdead_beef);
        assert_eq!(bar.read(8), 0xdead_beef);
        bar.set_bits(8, 1);
        bar.clear_bits(8, 0xf000_0000);
        assert_eq!(bar.read(8), 0x0ead_beef);
        bar.write(64, 1); // ignored, out of range
        assert_eq!(bar.read(64), 0);
        assert_eq!(mem[2], 0x0ead_beef);
        // SAFETY: as above.
        let err = unsafe { Mmio::new(base, 64, 128) }.err();
        assert_eq!(
            err,
            Some(BarError::TooSmall {
                len: 64,
                needed: 128
            })
        );
    }
}
