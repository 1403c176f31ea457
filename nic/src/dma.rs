//! DMA memory as the platform provides it.
//!
//! The kernel implements [`DmaAlloc`] over its boot-time contiguous region
//! (identity mapped: `phys == virt`); host tests implement it over leaked heap
//! memory with `phys` = the host address (see `HeapDma`, tests/model only).
//! The driver asks for memory only while it is being constructed.
#![allow(unsafe_code)]

use core::ptr::NonNull;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmaError {
    /// The platform's DMA budget cannot satisfy the request.
    OutOfMemory { requested: usize },
    /// Zero length or an alignment that is not a power of two.
    BadRequest,
}

/// A piece of DMA memory: where the CPU sees it and where the device does.
#[derive(Debug)]
pub struct DmaChunk {
    pub virt: NonNull<u8>,
    pub phys: u64,
    pub len: usize,
}

/// Source of DMA memory.
///
/// # Safety
/// Implementors promise that every chunk returned by `alloc` is:
/// `len` bytes readable and writable at `virt`, aligned to `align`, zeroed,
/// owned exclusively by the caller and never freed or reused for the rest of
/// the program, physically contiguous, and seen by devices at `phys`
/// (`phys + k` is byte `k`). The drivers build slices and descriptor rings on
/// that promise.
pub unsafe trait DmaAlloc {
    fn alloc(&mut self, len: usize, align: usize) -> Result<DmaChunk, DmaError>;
}

impl DmaChunk {
    /// Views the chunk as `u32` words (for bookkeeping arrays and the mempool
    /// free stack). Chunks from [`DmaAlloc`] live forever and are exclusive,
    /// so the slice may be `'static`.
    pub(crate) fn into_u32_slice(self) -> Option<&'static mut [u32]> {
        if !(self.virt.as_ptr() as usize).is_multiple_of(core::mem::align_of::<u32>()) {
            return None;
        }
        let words = self.len / 4;
        // SAFETY: per the `DmaAlloc` contract the memory is valid, zeroed
        // (a valid `u32` bit pattern), exclusively ours and never freed; the
        // alignment was checked above and `words * 4 <= len`.
        Some(unsafe { core::slice::from_raw_parts_mut(self.virt.as_ptr().cast::<u32>(), words) })
    }
}

/// Heap-backed DMA memory for host tests and benches: `phys` is the host
/// virtual address, as if an IOMMU identity-mapped the process. Memory is
/// leaked on purpose to meet the "never freed" contract.
#[cfg(any(test, feature = "model"))]
#[derive(Debug, Default)]
pub struct HeapDma {
    pub allocated: usize,
}

#[cfg(any(test, feature = "model"))]
// SAFETY: each chunk is a fresh zeroed allocation that is leaked (never freed
// or handed out twice), with the requested alignment; phys == virt.
unsafe impl DmaAlloc for HeapDma {
    fn alloc(&mut self, len: usize, align: usize) -> Result<DmaChunk, DmaError> {
        if len == 0 || !align.is_power_of_two() {
            return Err(DmaError::BadRequest);
        }
        let layout = std::alloc::Layout::from_size_align(len, align.max(64))
            .map_err(|_| DmaError::BadRequest)?;
        // SAFETY: the layout has non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let virt = NonNull::new(ptr).ok_or(DmaError::OutOfMemory { requested: len })?;
        self.allocated += len;
        Ok(DmaChunk {
            virt,
            phys: ptr as u64,
            len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_dma_aligns_and_zeroes() {
        let mut d = HeapDma::default();
        let c = d.alloc(4096, 4096).unwrap();
        assert_eq!(c.virt.as_ptr() as usize % 4096, 0);
        assert_eq!(c.phys, c.virt.as_ptr() as u64);
        let s = c.into_u32_slice().unwrap();
        assert_eq!(s.len(), 1024);
        assert!(s.iter().all(|&w| w == 0));
        assert_eq!(d.alloc(0, 8).unwrap_err(), DmaError::BadRequest);
        assert_eq!(d.alloc(8, 3).unwrap_err(), DmaError::BadRequest);
    }
}
