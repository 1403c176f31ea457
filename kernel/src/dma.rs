//! DMA memory: one physically contiguous, huge-page-backed region per boot.
//!
//! NICs read descriptor rings and write packet buffers by physical address.
//! The appliance reserves one contiguous region at boot (the budget, set by
//! the `dma=` boot option), backed by 2 MiB (or 1 GiB) pages of the identity
//! map so the TLB never misses on it, and hands out aligned, zeroed pieces.
//! Because the region is contiguous, a buffer's physical address is its
//! virtual address plus a constant: no lookup on the hot path. Nothing is
//! ever freed; exceeding the budget is a clear error at start-up.

use core::ptr::NonNull;

/// Default budget when the boot command line names none.
pub const DEFAULT_BUDGET: u64 = 32 << 20;
/// Region alignment: one 2 MiB page.
pub const REGION_ALIGN: u64 = 2 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmaError {
    BudgetExceeded {
        requested: usize,
        remaining: usize,
    },
    /// Alignment not a power of two, or size zero.
    BadRequest,
}

/// A piece of DMA memory: where the CPU sees it and where the device does.
#[derive(Debug)]
pub struct DmaBuffer {
    virt: NonNull<u8>,
    phys: u64,
    len: usize,
}

impl DmaBuffer {
    pub fn as_ptr(&self) -> *mut u8 {
        self.virt.as_ptr()
    }
    /// Device-visible address of the first byte.
    pub fn phys(&self) -> u64 {
        self.phys
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Device-visible address of byte `offset` (no bounds check beyond the
    /// debug assertion: callers index within their own buffer).
    pub fn phys_at(&self, offset: usize) -> u64 {
        debug_assert!(offset <= self.len);
        self.phys + offset as u64
    }
}

// SAFETY: a DmaBuffer is exclusive ownership of its bytes (handed out once by
// the region), so moving it to another core is sound.
#[allow(unsafe_code)]
unsafe impl Send for DmaBuffer {}

/// The boot-time DMA region and its bump allocator.
pub struct DmaRegion {
    virt: NonNull<u8>,
    phys: u64,
    len: usize,
    next: usize,
    allocations: u32,
}

// SAFETY: the region only hands out disjoint pieces; shared use goes through
// a lock in the platform.
#[allow(unsafe_code)]
unsafe impl Send for DmaRegion {}

impl DmaRegion {
    /// # Safety
    /// `[virt, virt + len)` must be memory owned exclusively by this region
    /// for the rest of the run, physically contiguous, at physical address
    /// `phys`.
    #[allow(unsafe_code)]
    pub unsafe fn new(virt: NonNull<u8>, phys: u64, len: usize) -> DmaRegion {
        DmaRegion {
            virt,
            phys,
            len,
            next: 0,
            allocations: 0,
        }
    }

    /// A zeroed, `align`-aligned (physically and virtually) piece of `len` bytes.
    pub fn allocate(&mut self, len: usize, align: usize) -> Result<DmaBuffer, DmaError> {
        if len == 0 || !align.is_power_of_two() {
            return Err(DmaError::BadRequest);
        }
        // Align the physical address; virtual follows since the offset is shared.
        let phys_next = self.phys + self.next as u64;
        let padding = (phys_next.next_multiple_of(align as u64) - phys_next) as usize;
        let start = self.next.checked_add(padding).ok_or(DmaError::BadRequest)?;
        let end = start.checked_add(len).ok_or(DmaError::BadRequest)?;
        if end > self.len {
            return Err(DmaError::BudgetExceeded {
                requested: len,
                remaining: self.len - self.next.min(self.len),
            });
        }
        // SAFETY: `start + len <= self.len`, inside the region `new` vouched
        // for, and never handed out before (the bump pointer only grows).
        #[allow(unsafe_code)]
        let virt = unsafe {
            let p = self.virt.as_ptr().add(start);
            core::ptr::write_bytes(p, 0, len);
            NonNull::new_unchecked(p)
        };
        self.next = end;
        self.allocations += 1;
        Ok(DmaBuffer {
            virt,
            phys: self.phys + start as u64,
            len,
        })
    }

    pub fn budget(&self) -> usize {
        self.len
    }
    pub fn used(&self) -> usize {
        self.next
    }
    pub fn remaining(&self) -> usize {
        self.len - self.next
    }
    pub fn allocations(&self) -> u32 {
        self.allocations
    }
    pub fn phys_base(&self) -> u64 {
        self.phys
    }
}

/// Parses a size such as `64M`, `1G`, `4096` or `512K`.
pub fn parse_size(text: &str) -> Option<u64> {
    let (digits, shift) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 10),
        b'M' | b'm' => (&text[..text.len() - 1], 20),
        b'G' | b'g' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let value: u64 = digits.parse().ok()?;
    value.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    const PHYS: u64 = 0x4000_0000;

    fn region(backing: &mut Vec<u8>) -> DmaRegion {
        // SAFETY: the test owns the backing buffer for the region's lifetime.
        #[allow(unsafe_code)]
        unsafe {
            DmaRegion::new(
                NonNull::new(backing.as_mut_ptr()).unwrap(),
                PHYS,
                backing.len(),
            )
        }
    }

    #[test]
    fn allocations_are_aligned_disjoint_zeroed_and_translate() {
        let mut backing = std::vec![0xAAu8; 1 << 20];
        let mut r = region(&mut backing);
        let ring = r.allocate(4096, 128).unwrap();
        let buffers = r.allocate(64 * 2048, 4096).unwrap();
        let odd = r.allocate(3, 1).unwrap();
        let next = r.allocate(16, 64).unwrap();
        assert_eq!(ring.phys(), PHYS);
        assert_eq!(buffers.phys() % 4096, 0);
        assert!(buffers.phys() >= ring.phys() + 4096);
        assert_eq!(odd.phys(), buffers.phys() + 64 * 2048);
        assert_eq!(next.phys() % 64, 0);
        assert!(next.phys() > odd.phys() + 2);
        // Translation is a constant offset.
        let base = backing.as_ptr() as u64;
        for b in [&ring, &buffers, &odd, &next] {
            assert_eq!(b.as_ptr() as u64 - base, b.phys() - PHYS);
            let bytes = unsafe_slice(b);
            assert!(bytes.iter().all(|&x| x == 0), "not zeroed");
        }
        assert_eq!(buffers.phys_at(2048), buffers.phys() + 2048);
        assert_eq!(r.allocations(), 4);
    }

    fn unsafe_slice(b: &DmaBuffer) -> &[u8] {
        // SAFETY: the buffer is live and `len` bytes long.
        #[allow(unsafe_code)]
        unsafe {
            core::slice::from_raw_parts(b.as_ptr(), b.len())
        }
    }

    #[test]
    fn budget_is_enforced_with_a_clear_error() {
        let mut backing = std::vec![0u8; 8192];
        let mut r = region(&mut backing);
        r.allocate(4096, 4096).unwrap();
        assert_eq!(
            r.allocate(8192, 8).unwrap_err(),
            DmaError::BudgetExceeded {
                requested: 8192,
                remaining: 4096
            }
        );
        assert_eq!(r.allocate(0, 8).unwrap_err(), DmaError::BadRequest);
        assert_eq!(r.allocate(8, 3).unwrap_err(), DmaError::BadRequest);
        r.allocate(4096, 8).unwrap();
        assert_eq!(r.remaining(), 0);
        assert_eq!(
            r.allocate(1, 1).unwrap_err(),
            DmaError::BudgetExceeded {
                requested: 1,
                remaining: 0
            }
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Some(64 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("512K"), Some(512 << 10));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_size("12Q"), None);
        assert_eq!(parse_size("99999999999999G"), None);
    }
}
