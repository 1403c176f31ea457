//! A fixed pool of equal-size packet buffers in DMA memory.
//!
//! Buffer `i` lives at `base + i * buf_size` and the device sees it at
//! `phys + i * buf_size`: no lookup, no per-buffer metadata. Free buffers are
//! a stack of indices (also in DMA memory, allocated once), so allocating and
//! freeing are O(1) pops and pushes — never a scan. The pool is meant to be
//! owned by one core (it is `!Sync`); a [`PacketBuf`] returns its buffer when
//! dropped.
#![allow(unsafe_code)]

use core::cell::Cell;
use core::ptr::NonNull;

use crate::dma::{DmaAlloc, DmaError};

pub use crate::batch::PacketBatch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MempoolError {
    /// Buffer size not a power of two in 1 KiB..=16 KiB (the 82599 sizes
    /// receive buffers in 1 KiB units), or zero buffers.
    BadGeometry,
    Dma(DmaError),
}

impl From<DmaError> for MempoolError {
    fn from(e: DmaError) -> Self {
        MempoolError::Dma(e)
    }
}

pub struct Mempool {
    base: NonNull<u8>,
    phys: u64,
    buf_shift: u32,
    /// `1 << buf_shift`, stored: see [`Geometry`].
    buf_bytes: u64,
    count: u32,
    /// The free stack, `count` entries; it grows downwards: the free
    /// indices are `free[first_free..]`, the next one to hand out first.
    /// A batch of buffers taken at once is then a forward slice.
    free: &'static [Cell<u32>],
    first_free: Cell<u32>,
}

// SAFETY: the pool exclusively owns its DMA memory; it may move to the core
// that will use it. It stays `!Sync` (Cell), so it is never shared.
unsafe impl Send for Mempool {}

impl core::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mempool")
            .field("phys", &self.phys)
            .field("buf_size", &self.buf_size())
            .field("count", &self.count)
            .field("free", &self.free_count())
            .finish()
    }
}

impl Mempool {
    /// Allocates `count` buffers of `buf_size` bytes (and the free stack)
    /// from `dma`, once.
    pub fn new(dma: &mut dyn DmaAlloc, count: u32, buf_size: usize) -> Result<Self, MempoolError> {
        if count == 0 || !buf_size.is_power_of_two() || !(1024..=16384).contains(&buf_size) {
            return Err(MempoolError::BadGeometry);
        }
        let bytes = (count as usize)
            .checked_mul(buf_size)
            .ok_or(MempoolError::BadGeometry)?;
        let bufs = dma.alloc(bytes, 4096)?;
        if bufs.len < bytes {
            return Err(MempoolError::Dma(DmaError::OutOfMemory {
                requested: bytes,
            }));
        }
        let stack = dma
            .alloc(count as usize * 4, 64)?
            .into_u32_slice()
            .filter(|s| s.len() >= count as usize)
            .ok_or(MempoolError::Dma(DmaError::BadRequest))?;
        let stack = stack
            .get_mut(..count as usize)
            .ok_or(MempoolError::Dma(DmaError::BadRequest))?;
        // Lowest indices on top: the first buffers handed out are adjacent.
        for (slot, idx) in stack.iter_mut().zip(0..count) {
            *slot = idx;
        }
        let free = Cell::from_mut(stack).as_slice_of_cells();
        Ok(Mempool {
            base: bufs.virt,
            phys: bufs.phys,
            buf_shift: buf_size.trailing_zeros(),
            buf_bytes: buf_size as u64,
            count,
            free,
            first_free: Cell::new(0),
        })
    }

    pub fn buf_size(&self) -> usize {
        1 << self.buf_shift
    }

    pub fn capacity(&self) -> u32 {
        self.count
    }

    /// Buffers currently free.
    pub fn free_count(&self) -> u32 {
        self.count - self.first_free.get()
    }

    /// Takes a buffer (length 0) or `None` when the pool is empty.
    pub fn alloc(&self) -> Option<PacketBuf<'_>> {
        let index = self.alloc_index()?;
        Some(PacketBuf {
            pool: self,
            index,
            len: 0,
        })
    }

    #[inline(always)]
    pub(crate) fn alloc_index(&self) -> Option<u32> {
        let first = self.first_free.get();
        let index = self.free.get(first as usize)?.get();
        self.first_free.set(first + 1);
        Some(index)
    }

    #[inline(always)]
    pub(crate) fn free_index(&self, index: u32) {
        // Cannot overflow while indices are owned linearly; if a bug ever
        // frees twice, refuse the extra push rather than corrupt memory.
        let Some(first) = self.first_free.get().checked_sub(1) else {
            return;
        };
        if let Some(slot) = self.free.get(first as usize) {
            debug_assert!(index < self.count);
            slot.set(index);
            self.first_free.set(first);
        }
    }

    /// Batched access to the free stack: the top stays in a register for the
    /// whole batch and is written back once, when the run ends. While a run
    /// is alive nothing else may take or return buffers of this pool (no
    /// `PacketBuf` may be dropped): drivers keep runs inside one call.
    #[inline(always)]
    pub(crate) fn run(&self) -> Run<'_> {
        let first = self.first_free.get() as usize;
        Run {
            pool: self,
            // `first <= free.len()`: `alloc_index` stops at the end.
            avail: self.free.get(first..).unwrap_or_default(),
        }
    }

    /// Device address of buffer `index` (for drivers that keep indices).
    #[inline(always)]
    pub fn phys_of(&self, index: u32) -> u64 {
        self.phys + ((index as u64) << self.buf_shift)
    }

    /// The pool's address arithmetic as a plain value. A driver takes it
    /// once per batch: the pool holds `Cell`s, so the compiler must reload
    /// its fields after every store into the free stack, but a local copy
    /// stays in registers.
    #[inline(always)]
    pub fn geometry(&self) -> Geometry {
        Geometry {
            phys: self.phys,
            size: self.buf_bytes,
        }
    }

    /// Wraps an index the caller owns (from [`PacketBuf::into_raw`], not yet
    /// wrapped again) into a `PacketBuf`. For drivers that park buffers in
    /// descriptor rings as bare indices.
    ///
    /// # Safety
    /// `index < capacity()` and no other `PacketBuf` or free-stack entry holds
    /// `index`: the returned buffer hands out `&mut` access to its bytes.
    #[inline(always)]
    pub unsafe fn buf_from_raw(&self, index: u32, len: u16) -> PacketBuf<'_> {
        PacketBuf {
            pool: self,
            index,
            len: (len as usize).min(self.buf_size()) as u32,
        }
    }

    /// As [`Mempool::buf_from_raw`], for a length the caller has already
    /// checked against the buffer size (a receive path checks it once, on
    /// the descriptor).
    ///
    /// # Safety
    /// As [`Mempool::buf_from_raw`], and `len <= buf_size()`.
    #[inline(always)]
    pub(crate) unsafe fn buf_from_raw_checked(&self, index: u32, len: u32) -> PacketBuf<'_> {
        debug_assert!(len as usize <= self.buf_size());
        PacketBuf {
            pool: self,
            index,
            len,
        }
    }

    fn bytes(&self, index: u32) -> *mut u8 {
        debug_assert!(index < self.count);
        // SAFETY: every index in circulation is < count, so the offset stays
        // inside the `count * buf_size` bytes allocated for the pool.
        unsafe { self.base.as_ptr().add((index as usize) << self.buf_shift) }
    }
}

/// See [`Mempool::geometry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    phys: u64,
    /// The buffer size as loaded from the pool, not as `1 << shift`: the
    /// compiler then multiplies with a memory operand instead of shifting by
    /// `%cl`, which keeps a register free in the drivers' loops.
    size: u64,
}

impl Geometry {
    /// Device address of buffer `index`, as [`Mempool::phys_of`].
    #[inline(always)]
    pub fn phys_of(self, index: u32) -> u64 {
        self.phys + index as u64 * self.size
    }

    pub fn buf_size(self) -> usize {
        self.size as usize
    }
}

/// See [`Mempool::run`].
pub(crate) struct Run<'a> {
    pool: &'a Mempool,
    /// The free part of the stack, `free[first_free..]`, the next index to
    /// hand out first.
    avail: &'a [Cell<u32>],
}

impl<'a> Run<'a> {
    /// The free indices, the next one to hand out first: a receive loop
    /// reads as many as it uses from the front, then commits them with
    /// [`Run::taken`] (until then they are still free).
    #[inline(always)]
    pub(crate) fn avail(&self) -> &'a [Cell<u32>] {
        self.avail
    }

    /// The first `n` indices of [`Run::avail`] are taken.
    #[inline(always)]
    pub(crate) fn taken(&mut self, n: usize) {
        self.avail = self.avail.get(n..).unwrap_or_default();
    }

    /// Returns every index of `indices` (in order, as that many `give`s
    /// would). As `free_index`, a push past the end of the stack (a double
    /// free) is refused, never written.
    #[inline(always)]
    pub(crate) fn give_all(&mut self, indices: &[u32]) {
        let first = self.pool.free.len() - self.avail.len();
        let n = indices.len().min(first);
        let (Some(dst), Some(src)) = (self.pool.free.get(first - n..first), indices.get(..n))
        else {
            return;
        };
        // Pushing downwards: the first index given ends up deepest.
        for (slot, &index) in dst.iter().rev().zip(src) {
            debug_assert!(index < self.pool.count);
            slot.set(index);
        }
        self.avail = self.pool.free.get(first - n..).unwrap_or(self.avail);
    }
}

impl Drop for Run<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.pool
            .first_free
            .set((self.pool.free.len() - self.avail.len()) as u32);
    }
}

/// One packet buffer from a [`Mempool`], returned to it on drop.
///
/// `data()` is the frame (`len` bytes); `buffer_mut()` the whole buffer for
/// building a frame in place, then `set_len`.
pub struct PacketBuf<'p> {
    pool: &'p Mempool,
    index: u32,
    len: u32,
}

impl core::fmt::Debug for PacketBuf<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PacketBuf")
            .field("index", &self.index)
            .field("len", &self.len)
            .finish()
    }
}

impl<'p> PacketBuf<'p> {
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.pool.buf_size()
    }

    /// Sets the frame length; `false` (and no change) if it exceeds the buffer.
    pub fn set_len(&mut self, len: usize) -> bool {
        if len > self.capacity() {
            return false;
        }
        self.len = len as u32;
        true
    }

    /// The frame bytes, straight from the DMA buffer (zero copy).
    pub fn data(&self) -> &[u8] {
        // SAFETY: this PacketBuf exclusively owns buffer `index` (buf_from_raw
        // and alloc contracts); `len <= buf_size`; the device does not write
        // the buffer while software owns it.
        unsafe { core::slice::from_raw_parts(self.pool.bytes(self.index), self.len as usize) }
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`, and `&mut self` makes the access unique.
        unsafe { core::slice::from_raw_parts_mut(self.pool.bytes(self.index), self.len as usize) }
    }

    /// The whole buffer, for building a frame in place.
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data_mut`, over the full buffer size.
        unsafe { core::slice::from_raw_parts_mut(self.pool.bytes(self.index), self.capacity()) }
    }

    /// Copies `frame` in and sets the length; `false` if it does not fit.
    pub fn fill(&mut self, frame: &[u8]) -> bool {
        match self.buffer_mut().get_mut(..frame.len()) {
            Some(dst) => {
                dst.copy_from_slice(frame);
                self.len = frame.len() as u32;
                true
            }
            None => false,
        }
    }

    pub fn pool(&self) -> &'p Mempool {
        self.pool
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    /// Device address of the first byte.
    pub fn phys(&self) -> u64 {
        self.pool.phys_of(self.index)
    }

    /// Gives up ownership without freeing: returns (index, len); the caller
    /// now owns the index and must hand it back through
    /// [`Mempool::buf_from_raw`] (or leak the buffer).
    #[inline(always)]
    pub fn into_raw(self) -> (u32, u32) {
        let me = core::mem::ManuallyDrop::new(self);
        (me.index, me.len)
    }
}

impl Drop for PacketBuf<'_> {
    fn drop(&mut self) {
        self.pool.free_index(self.index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dma::HeapDma;
    use proptest::prelude::*;

    fn pool(n: u32) -> Mempool {
        Mempool::new(&mut HeapDma::default(), n, 2048).unwrap()
    }

    #[test]
    fn geometry_is_checked() {
        let mut d = HeapDma::default();
        assert_eq!(
            Mempool::new(&mut d, 0, 2048).unwrap_err(),
            MempoolError::BadGeometry
        );
        assert_eq!(
            Mempool::new(&mut d, 4, 1500).unwrap_err(),
            MempoolError::BadGeometry
        );
        assert_eq!(
            Mempool::new(&mut d, 4, 512).unwrap_err(),
            MempoolError::BadGeometry
        );
    }

    #[test]
    fn alloc_until_empty_then_raii_returns() {
        let p = pool(4);
        let bufs: std::vec::Vec<_> = (0..4).map(|_| p.alloc().unwrap()).collect();
        assert!(p.alloc().is_none());
        assert_eq!(p.free_count(), 0);
        let mut idx: std::vec::Vec<u32> = bufs.iter().map(|b| b.index()).collect();
        idx.sort();
        assert_eq!(idx, [0, 1, 2, 3]);
        for b in &bufs {
            assert_eq!(b.phys(), p.phys + b.index() as u64 * 2048);
        }
        drop(bufs);
        assert_eq!(p.free_count(), 4);
    }

    #[test]
    fn buffers_do_not_alias() {
        let p = pool(8);
        let mut a = p.alloc().unwrap();
        let mut b = p.alloc().unwrap();
        assert!(a.fill(&[1; 100]));
        assert!(b.fill(&[2; 2048]));
        assert!(!b.fill(&[2; 2049]));
        assert_eq!(a.data(), &[1; 100][..]);
        assert!(b.data().iter().all(|&x| x == 2));
        assert!(!a.set_len(4096));
        assert!(a.set_len(60));
        assert_eq!(a.len(), 60);
    }

    proptest! {
        #[test]
        fn free_count_tracks_live_buffers(ops in proptest::collection::vec(any::<bool>(), 0..200)) {
            let p = pool(16);
            let mut live = std::vec::Vec::new();
            for alloc in ops {
                if alloc {
                    match p.alloc() {
                        Some(b) => live.push(b),
                        None => prop_assert_eq!(live.len(), 16),
                    }
                } else {
                    live.pop();
                }
                prop_assert_eq!(p.free_count() as usize + live.len(), 16);
                let mut seen: std::vec::Vec<u32> = live.iter().map(|b| b.index()).collect();
                seen.sort();
                seen.dedup();
                prop_assert_eq!(seen.len(), live.len());
            }
        }
    }
}
