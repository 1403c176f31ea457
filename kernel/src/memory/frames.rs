//! Physical frame allocator.
//!
//! The appliance allocates almost all of its memory once at boot (page tables,
//! DMA rings, packet pools, the order table) and frees little, so the
//! allocator is a list of free ranges carved from the usable memory map, with
//! contiguous aligned allocation for DMA regions and a small stack of freed
//! single frames. Nothing here touches the memory it hands out, so the same
//! code is tested on the host.

use crate::bootinfo::{MemoryRegion, RegionKind};
use heapless::Vec;

pub const FRAME_SIZE: u64 = 4096;
/// Free ranges tracked at once; each contiguous allocation may split one in two.
pub const MAX_RANGES: usize = 64;
/// Freed single frames kept for reuse.
pub const MAX_FREED: usize = 1024;

/// A half-open physical range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhysRange {
    pub start: u64,
    pub end: u64,
}

impl PhysRange {
    pub const fn len(&self) -> u64 {
        self.end - self.start
    }
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }
    fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// No free range can satisfy the request.
    OutOfMemory { requested: u64 },
    /// Size zero or alignment not a power of two multiple of 4 KiB.
    BadRequest,
    /// Freed address is not a frame we manage, or is already free.
    BadFree(u64),
    /// The free-range table is full: the map is too fragmented to track.
    TooFragmented,
}

pub struct FrameAllocator {
    free: Vec<PhysRange, MAX_RANGES>,
    freed: Vec<u64, MAX_FREED>,
    /// Everything the allocator was ever given, for validating frees.
    managed: Vec<PhysRange, MAX_RANGES>,
    allocated_bytes: u64,
}

const fn align_up(v: u64, align: u64) -> Option<u64> {
    match v.checked_add(align - 1) {
        Some(x) => Some(x & !(align - 1)),
        None => None,
    }
}

const fn align_down(v: u64, align: u64) -> u64 {
    v & !(align - 1)
}

impl FrameAllocator {
    /// Builds the allocator from the usable parts of `regions`, minus every
    /// range in `reserved` (the image, the loader's structures, low memory).
    pub fn new(regions: &[MemoryRegion], reserved: &[PhysRange]) -> Result<Self, FrameError> {
        let mut alloc = FrameAllocator {
            free: Vec::new(),
            freed: Vec::new(),
            managed: Vec::new(),
            allocated_bytes: 0,
        };
        for region in regions.iter().filter(|r| r.kind == RegionKind::Usable) {
            let Some(start) = align_up(region.start, FRAME_SIZE) else {
                continue;
            };
            let end = align_down(region.end(), FRAME_SIZE);
            if start < end {
                alloc.insert_free(PhysRange { start, end })?;
            }
        }
        for r in reserved {
            let start = align_down(r.start, FRAME_SIZE);
            let end = align_up(r.end, FRAME_SIZE).unwrap_or(!(FRAME_SIZE - 1));
            alloc.carve(PhysRange { start, end })?;
        }
        alloc.managed = alloc.free.clone();
        Ok(alloc)
    }

    /// Adds a free range, merging with neighbours and keeping the list sorted.
    fn insert_free(&mut self, range: PhysRange) -> Result<(), FrameError> {
        let pos = self
            .free
            .iter()
            .position(|r| r.start > range.start)
            .unwrap_or(self.free.len());
        self.free
            .insert(pos, range)
            .map_err(|_| FrameError::TooFragmented)?;
        // Merge overlapping or touching neighbours (maps may overlap).
        let mut i = 0;
        while i + 1 < self.free.len() {
            if self.free[i].end >= self.free[i + 1].start {
                self.free[i].end = self.free[i].end.max(self.free[i + 1].end);
                self.free.remove(i + 1);
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    /// Removes `hole` from every free range.
    fn carve(&mut self, hole: PhysRange) -> Result<(), FrameError> {
        let mut i = 0;
        while i < self.free.len() {
            let r = self.free[i];
            if hole.end <= r.start || hole.start >= r.end {
                i += 1;
                continue;
            }
            let left = PhysRange {
                start: r.start,
                end: hole.start.max(r.start),
            };
            let right = PhysRange {
                start: hole.end.min(r.end),
                end: r.end,
            };
            self.free.remove(i);
            if !right.is_empty() {
                self.free
                    .insert(i, right)
                    .map_err(|_| FrameError::TooFragmented)?;
            }
            if !left.is_empty() {
                self.free
                    .insert(i, left)
                    .map_err(|_| FrameError::TooFragmented)?;
                i += 1;
            }
            if !right.is_empty() {
                i += 1;
            }
        }
        Ok(())
    }

    /// One 4 KiB frame.
    pub fn allocate(&mut self) -> Result<u64, FrameError> {
        if let Some(frame) = self.freed.pop() {
            self.allocated_bytes += FRAME_SIZE;
            return Ok(frame);
        }
        self.allocate_contiguous(FRAME_SIZE, FRAME_SIZE)
    }

    /// `size` bytes of physically contiguous memory aligned to `align`
    /// (both multiples of 4 KiB, `align` a power of two). Taken from the top
    /// of the highest range that fits, so low memory (needed by devices and
    /// the SMP trampoline) is used last.
    pub fn allocate_contiguous(&mut self, size: u64, align: u64) -> Result<u64, FrameError> {
        if size == 0
            || !size.is_multiple_of(FRAME_SIZE)
            || !align.is_power_of_two()
            || align < FRAME_SIZE
        {
            return Err(FrameError::BadRequest);
        }
        let found = self.free.iter().enumerate().rev().find_map(|(i, r)| {
            let start = align_down(r.end.checked_sub(size)?, align);
            (start >= r.start).then_some((i, start))
        });
        let Some((index, start)) = found else {
            return Err(FrameError::OutOfMemory { requested: size });
        };
        let range = self.free[index];
        let tail = PhysRange {
            start: start + size,
            end: range.end,
        };
        self.free[index].end = start;
        if !tail.is_empty() {
            // Alignment left a sliver above the allocation; keep it unless the
            // table is full, in which case it is given up rather than failing.
            let _ = self.free.insert(index + 1, tail);
        }
        if self.free[index].is_empty() {
            self.free.remove(index);
        }
        self.allocated_bytes += size;
        Ok(start)
    }

    /// Returns one frame.
    pub fn free(&mut self, frame: u64) -> Result<(), FrameError> {
        let valid =
            frame.is_multiple_of(FRAME_SIZE) && self.managed.iter().any(|r| r.contains(frame));
        let already_free =
            self.free.iter().any(|r| r.contains(frame)) || self.freed.contains(&frame);
        if !valid || already_free {
            return Err(FrameError::BadFree(frame));
        }
        match self.freed.push(frame) {
            Ok(()) => {}
            Err(frame) => self.insert_free(PhysRange {
                start: frame,
                end: frame + FRAME_SIZE,
            })?,
        }
        self.allocated_bytes -= FRAME_SIZE;
        Ok(())
    }

    pub fn free_bytes(&self) -> u64 {
        self.free.iter().map(PhysRange::len).sum::<u64>() + self.freed.len() as u64 * FRAME_SIZE
    }

    pub fn allocated_bytes(&self) -> u64 {
        self.allocated_bytes
    }

    /// The free ranges, lowest first.
    pub fn free_ranges(&self) -> &[PhysRange] {
        &self.free
    }
}

// The x86_64 crate's page-table mapper takes its frames through this trait.
// SAFETY: every frame returned is unused, 4 KiB aligned and handed out once
// until it is freed again (the free list rejects double frees).
#[allow(unsafe_code)]
unsafe impl x86_64::structures::paging::FrameAllocator<x86_64::structures::paging::Size4KiB>
    for FrameAllocator
{
    fn allocate_frame(&mut self) -> Option<x86_64::structures::paging::PhysFrame> {
        let addr = self.allocate().ok()?;
        x86_64::structures::paging::PhysFrame::from_start_address(x86_64::PhysAddr::new(addr)).ok()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::BTreeSet;

    fn usable(start: u64, len: u64) -> MemoryRegion {
        MemoryRegion {
            start,
            len,
            kind: RegionKind::Usable,
        }
    }

    fn qemu_like() -> FrameAllocator {
        let map = [
            usable(0, 0x9fc00),
            MemoryRegion {
                start: 0x9fc00,
                len: 0x400,
                kind: RegionKind::Reserved,
            },
            usable(0x10_0000, 0x1fee_0000),
        ];
        let reserved = [
            PhysRange {
                start: 0,
                end: 0x10_0000,
            }, // low memory
            PhysRange {
                start: 0x10_0000,
                end: 0x30_0123,
            }, // the image
        ];
        FrameAllocator::new(&map, &reserved).unwrap()
    }

    #[test]
    fn reserved_ranges_are_never_handed_out() {
        let mut a = qemu_like();
        assert_eq!(
            a.free_ranges(),
            &[PhysRange {
                start: 0x30_1000,
                end: 0x1ffe_0000
            }]
        );
        let total = a.free_bytes();
        let mut seen = BTreeSet::new();
        while let Ok(f) = a.allocate() {
            assert!(f >= 0x30_1000 && f + FRAME_SIZE <= 0x1ffe_0000, "{f:#x}");
            assert_eq!(f % FRAME_SIZE, 0);
            assert!(seen.insert(f), "frame {f:#x} handed out twice");
        }
        assert_eq!(seen.len() as u64 * FRAME_SIZE, total);
        assert_eq!(a.free_bytes(), 0);
    }

    #[test]
    fn contiguous_allocations_are_aligned_and_disjoint() {
        let mut a = qemu_like();
        let huge = 2 << 20;
        let mut got = std::vec::Vec::new();
        for _ in 0..8 {
            let p = a.allocate_contiguous(huge, huge).unwrap();
            assert_eq!(p % huge, 0);
            got.push(p);
        }
        got.sort();
        for w in got.windows(2) {
            assert!(w[0] + huge <= w[1]);
        }
        let before = a.free_bytes();
        let odd = a.allocate_contiguous(3 * FRAME_SIZE, FRAME_SIZE).unwrap();
        assert_eq!(a.free_bytes(), before - 3 * FRAME_SIZE);
        assert!(got
            .iter()
            .all(|&p| odd + 3 * FRAME_SIZE <= p || odd >= p + huge));
    }

    #[test]
    fn exhaustion_is_an_error() {
        let mut a = FrameAllocator::new(&[usable(0x1000, 0x4000)], &[]).unwrap();
        assert_eq!(
            a.allocate_contiguous(0x8000, 0x1000),
            Err(FrameError::OutOfMemory { requested: 0x8000 })
        );
        assert_eq!(
            a.allocate_contiguous(0x1000, 3),
            Err(FrameError::BadRequest)
        );
        assert_eq!(
            a.allocate_contiguous(0, 0x1000),
            Err(FrameError::BadRequest)
        );
        for _ in 0..4 {
            a.allocate().unwrap();
        }
        assert!(a.allocate().is_err());
    }

    #[test]
    fn free_and_reuse_with_double_free_detection() {
        let mut a = FrameAllocator::new(&[usable(0x1000, 0x4000)], &[]).unwrap();
        let f = a.allocate().unwrap();
        assert_eq!(a.allocated_bytes(), FRAME_SIZE);
        a.free(f).unwrap();
        assert_eq!(a.free(f), Err(FrameError::BadFree(f)));
        assert_eq!(a.free(0x9000_0000), Err(FrameError::BadFree(0x9000_0000)));
        assert_eq!(a.free(f + 1), Err(FrameError::BadFree(f + 1)));
        assert_eq!(a.allocate().unwrap(), f);
        assert_eq!(a.allocated_bytes(), FRAME_SIZE);
    }

    #[test]
    fn overlapping_and_unaligned_map_entries_are_merged_and_trimmed() {
        let a = FrameAllocator::new(
            &[
                usable(0x1800, 0x3000),
                usable(0x3000, 0x3000),
                usable(u64::MAX - 10, 100),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            a.free_ranges(),
            &[PhysRange {
                start: 0x2000,
                end: 0x6000
            }]
        );
    }
}
