//! Page tables: the identity map the appliance runs on, and 4 KiB mappings.
//!
//! The appliance runs with physical = virtual for all RAM and all MMIO below
//! 4 GiB, using the largest pages that fit (1 GiB when the CPU has them, else
//! 2 MiB) so that the TLB never misses on the hot path. RAM is write-back,
//! everything else uncached. The mapping code is the `x86_64` crate's mapper;
//! this module decides what to map and how. It only reaches memory through
//! the mapper's physical-memory offset, which is 0 on bare metal and an arena
//! address in host tests.

use crate::bootinfo::{MemoryRegion, RegionKind};
use x86_64::structures::paging::mapper::{MapToError, UnmapError};
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageSize, PageTableFlags, PhysFrame, Size1GiB,
    Size2MiB, Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

pub const SIZE_2M: u64 = 2 << 20;
pub const SIZE_1G: u64 = 1 << 30;
/// Everything below this is mapped whether or not it is RAM: the PCI hole,
/// ECAM, the I/O APIC and the local APIC live here.
pub const LOW_MMIO_LIMIT: u64 = 4 << 30;

/// Memory type of a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    WriteBack,
    /// Strong uncacheable (PCD|PWT): device registers.
    Uncached,
}

impl Caching {
    pub fn flags(self) -> PageTableFlags {
        let base = PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::GLOBAL;
        match self {
            Caching::WriteBack => base,
            Caching::Uncached => base | PageTableFlags::NO_CACHE | PageTableFlags::WRITE_THROUGH,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// No frame for an intermediate table.
    OutOfFrames,
    /// The page is mapped already (to `PhysFrame` of some size).
    AlreadyMapped,
    /// A huge page sits where a smaller mapping was asked for.
    HugePageInTheWay,
    NotMapped,
    Misaligned,
}

impl<S: PageSize> From<MapToError<S>> for MapError {
    fn from(e: MapToError<S>) -> Self {
        match e {
            MapToError::FrameAllocationFailed => MapError::OutOfFrames,
            MapToError::ParentEntryHugePage => MapError::HugePageInTheWay,
            MapToError::PageAlreadyMapped(_) => MapError::AlreadyMapped,
        }
    }
}

impl From<UnmapError> for MapError {
    fn from(e: UnmapError) -> Self {
        match e {
            UnmapError::PageNotMapped => MapError::NotMapped,
            UnmapError::ParentEntryHugePage => MapError::HugePageInTheWay,
            UnmapError::InvalidFrameAddress(_) => MapError::Misaligned,
        }
    }
}

/// How many pages of each size the identity map used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MapStats {
    pub pages_1g: u32,
    pub pages_2m: u32,
    pub uncached_bytes: u64,
    pub mapped_bytes: u64,
}

fn is_ram(kind: RegionKind) -> bool {
    matches!(
        kind,
        RegionKind::Usable | RegionKind::AcpiReclaimable | RegionKind::AcpiNvs
    )
}

/// Caching for `[start, start + len)`: write-back when any RAM overlaps it,
/// `None` when above 4 GiB with no RAM at all (left unmapped).
fn chunk_caching(regions: &[MemoryRegion], start: u64, len: u64) -> Option<Caching> {
    let end = start + len;
    let ram = regions
        .iter()
        .any(|r| is_ram(r.kind) && r.start < end && r.end() > start);
    if ram {
        Some(Caching::WriteBack)
    } else if start < LOW_MMIO_LIMIT {
        Some(Caching::Uncached)
    } else {
        None
    }
}

/// Maps every RAM region and all of the low 4 GiB at physical = virtual.
///
/// # Flushing
/// Meant for building fresh tables before loading them into CR3, so TLB
/// flushes are skipped.
pub fn build_identity_map(
    mapper: &mut OffsetPageTable<'_>,
    frames: &mut impl FrameAllocator<Size4KiB>,
    regions: &[MemoryRegion],
    use_1g_pages: bool,
) -> Result<MapStats, MapError> {
    let top = regions
        .iter()
        .filter(|r| is_ram(r.kind))
        .map(MemoryRegion::end)
        .fold(LOW_MMIO_LIMIT, u64::max);
    let top = top.div_ceil(SIZE_2M) * SIZE_2M;
    let parent = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
    let mut stats = MapStats::default();
    let mut addr = 0u64;
    while addr < top {
        // A whole gigabyte of one memory type goes into one 1 GiB page.
        if use_1g_pages && addr.is_multiple_of(SIZE_1G) && addr + SIZE_1G <= top {
            let first = chunk_caching(regions, addr, SIZE_2M);
            let uniform = (0..SIZE_1G / SIZE_2M)
                .all(|i| chunk_caching(regions, addr + i * SIZE_2M, SIZE_2M) == first);
            if let (true, Some(caching)) = (uniform, first) {
                let frame = PhysFrame::<Size1GiB>::containing_address(PhysAddr::new(addr));
                let page = Page::<Size1GiB>::containing_address(VirtAddr::new(addr));
                // SAFETY: identity mapping of physical memory into fresh tables
                // that are not live yet; no existing reference is affected.
                #[allow(unsafe_code)]
                unsafe {
                    mapper.map_to_with_table_flags(page, frame, caching.flags(), parent, frames)
                }?
                .ignore();
                stats.pages_1g += 1;
                stats.mapped_bytes += SIZE_1G;
                if caching == Caching::Uncached {
                    stats.uncached_bytes += SIZE_1G;
                }
                addr += SIZE_1G;
                continue;
            }
        }
        if let Some(caching) = chunk_caching(regions, addr, SIZE_2M) {
            let frame = PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(addr));
            let page = Page::<Size2MiB>::containing_address(VirtAddr::new(addr));
            // SAFETY: as above: fresh tables, identity mapping.
            #[allow(unsafe_code)]
            unsafe {
                mapper.map_to_with_table_flags(page, frame, caching.flags(), parent, frames)
            }?
            .ignore();
            stats.pages_2m += 1;
            stats.mapped_bytes += SIZE_2M;
            if caching == Caching::Uncached {
                stats.uncached_bytes += SIZE_2M;
            }
        }
        addr += SIZE_2M;
    }
    Ok(stats)
}

/// Identity-maps `[start, start + len)` (rounded out to 2 MiB) in live
/// tables, skipping 2 MiB pages that are mapped already; for MMIO found after
/// boot, such as 64-bit BARs above 4 GiB.
///
/// # Safety
/// The range must be device memory or RAM nothing else maps differently.
#[allow(unsafe_code)]
pub unsafe fn map_identity_range(
    mapper: &mut OffsetPageTable<'_>,
    frames: &mut impl FrameAllocator<Size4KiB>,
    start: u64,
    len: u64,
    caching: Caching,
) -> Result<u32, MapError> {
    let first = start - start % SIZE_2M;
    let end = start
        .checked_add(len)
        .ok_or(MapError::Misaligned)?
        .div_ceil(SIZE_2M)
        * SIZE_2M;
    let parent = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
    let mut mapped = 0;
    let mut addr = first;
    while addr < end {
        let frame = PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(addr));
        let page = Page::<Size2MiB>::containing_address(VirtAddr::new(addr));
        // SAFETY: identity mapping of the caller's device range.
        match unsafe {
            mapper.map_to_with_table_flags(page, frame, caching.flags(), parent, frames)
        } {
            Ok(flush) => {
                flush_or_ignore(flush);
                mapped += 1;
            }
            Err(MapToError::PageAlreadyMapped(_)) | Err(MapToError::ParentEntryHugePage) => {}
            Err(e) => return Err(e.into()),
        }
        addr += SIZE_2M;
    }
    Ok(mapped)
}

/// Maps one 4 KiB page `virt → phys` in live tables and flushes its TLB entry.
///
/// # Safety
/// `virt` must not alias memory that any live reference points to, and `phys`
/// must be a frame the caller owns.
#[allow(unsafe_code)]
pub unsafe fn map_page(
    mapper: &mut OffsetPageTable<'_>,
    frames: &mut impl FrameAllocator<Size4KiB>,
    virt: u64,
    phys: u64,
    caching: Caching,
) -> Result<(), MapError> {
    let page = Page::<Size4KiB>::from_start_address(
        VirtAddr::try_new(virt).map_err(|_| MapError::Misaligned)?,
    )
    .map_err(|_| MapError::Misaligned)?;
    let frame = PhysFrame::<Size4KiB>::from_start_address(PhysAddr::new(phys))
        .map_err(|_| MapError::Misaligned)?;
    let parent = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
    let flags = caching.flags() & !PageTableFlags::GLOBAL;
    // SAFETY: the caller guarantees `virt` is unused and `phys` is theirs.
    let flush = unsafe { mapper.map_to_with_table_flags(page, frame, flags, parent, frames) }?;
    flush_or_ignore(flush);
    Ok(())
}

/// Removes a 4 KiB mapping and flushes it; returns the frame it pointed to.
pub fn unmap_page(mapper: &mut OffsetPageTable<'_>, virt: u64) -> Result<u64, MapError> {
    let page = Page::<Size4KiB>::from_start_address(
        VirtAddr::try_new(virt).map_err(|_| MapError::Misaligned)?,
    )
    .map_err(|_| MapError::Misaligned)?;
    let (frame, flush) = mapper.unmap(page)?;
    flush_or_ignore(flush);
    Ok(frame.start_address().as_u64())
}

fn flush_or_ignore<S: PageSize>(flush: x86_64::structures::paging::mapper::MapperFlush<S>) {
    // `invlpg` is privileged: only the appliance itself may run it.
    #[cfg(target_os = "none")]
    flush.flush();
    #[cfg(not(target_os = "none"))]
    flush.ignore();
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::memory::frames::FrameAllocator as Frames;
    use std::boxed::Box;
    use std::vec::Vec;
    use x86_64::structures::paging::mapper::{Translate, TranslateResult};
    use x86_64::structures::paging::PageTable;

    /// Fake physical memory holding page tables: `ARENA_PAGES` pages whose
    /// "physical" addresses start at `BASE`.
    const BASE: u64 = 0x10_0000;
    const ARENA_PAGES: usize = 64;

    struct Arena {
        pages: Box<[PageTable]>,
    }

    impl Arena {
        fn new() -> Arena {
            let pages: Vec<PageTable> = (0..ARENA_PAGES).map(|_| PageTable::new()).collect();
            Arena {
                pages: pages.into_boxed_slice(),
            }
        }
        fn offset(&self) -> u64 {
            self.pages.as_ptr() as u64 - BASE
        }
        fn frames(&self) -> Frames {
            let usable = MemoryRegion {
                start: BASE + 4096, // page 0 is the PML4
                len: (ARENA_PAGES as u64 - 1) * 4096,
                kind: RegionKind::Usable,
            };
            Frames::new(&[usable], &[]).unwrap()
        }
        fn mapper(&mut self) -> OffsetPageTable<'_> {
            let offset = VirtAddr::new(self.offset());
            // SAFETY: the arena is the whole fake physical memory the mapper
            // can reach through `offset`, and page 0 is its level-4 table.
            #[allow(unsafe_code)]
            unsafe {
                OffsetPageTable::new(&mut self.pages[0], offset)
            }
        }
    }

    fn qemu_map() -> Vec<MemoryRegion> {
        std::vec![
            MemoryRegion {
                start: 0,
                len: 0x9fc00,
                kind: RegionKind::Usable
            },
            MemoryRegion {
                start: 0x10_0000,
                len: 0x1fee_0000,
                kind: RegionKind::Usable
            },
            MemoryRegion {
                start: 0xb000_0000,
                len: 0x1000_0000,
                kind: RegionKind::Reserved
            },
        ]
    }

    fn lookup(mapper: &OffsetPageTable<'_>, addr: u64) -> Option<(u64, PageTableFlags)> {
        match mapper.translate(VirtAddr::new(addr)) {
            TranslateResult::Mapped {
                frame,
                offset,
                flags,
            } => Some((frame.start_address().as_u64() + offset, flags)),
            _ => None,
        }
    }

    #[test]
    fn low_4g_is_identity_mapped_with_ram_cached_and_mmio_uncached() {
        let mut arena = Arena::new();
        let mut frames = arena.frames();
        let mut mapper = arena.mapper();
        let stats = build_identity_map(&mut mapper, &mut frames, &qemu_map(), false).unwrap();
        assert_eq!(stats.pages_2m, 2048);
        assert_eq!(stats.mapped_bytes, 4 << 30);
        for addr in [0x1234u64, 0x20_0000, 0x1fff_fff8, 0xb000_0000, 0xfee0_0300] {
            let (phys, flags) = lookup(&mapper, addr).unwrap();
            assert_eq!(phys, addr);
            let uncached = flags.contains(PageTableFlags::NO_CACHE);
            assert_eq!(uncached, addr >= 0x2000_0000, "{addr:#x}");
            assert!(flags.contains(PageTableFlags::HUGE_PAGE));
        }
        assert!(lookup(&mapper, 4 << 30).is_none());
    }

    #[test]
    fn gigabyte_pages_where_uniform_and_ram_above_4g() {
        let mut arena = Arena::new();
        let mut frames = arena.frames();
        let mut mapper = arena.mapper();
        let mut map = qemu_map();
        map.push(MemoryRegion {
            start: 4 << 30,
            len: 3 << 29,
            kind: RegionKind::Usable,
        });
        let stats = build_identity_map(&mut mapper, &mut frames, &map, true).unwrap();
        // 0-1G mixed (RAM then hole): 2 MiB pages; 1G-2G, 2G-3G, 3G-4G uniform;
        // 4G-5G RAM; 5G-5.5G RAM in 2 MiB pages.
        assert_eq!(stats.pages_1g, 4);
        assert_eq!(stats.pages_2m, 512 + 256);
        let (phys, flags) = lookup(&mapper, (5 << 30) + 0x1000).unwrap();
        assert_eq!(phys, (5 << 30) + 0x1000);
        assert!(!flags.contains(PageTableFlags::NO_CACHE));
        assert!(lookup(&mapper, 6 << 30).is_none());
    }

    #[test]
    fn map_unmap_4k_page() {
        let mut arena = Arena::new();
        let mut frames = arena.frames();
        let mut mapper = arena.mapper();
        build_identity_map(&mut mapper, &mut frames, &qemu_map(), true).unwrap();
        let virt = 0x7f00_0000_0000u64;
        // SAFETY: host test: nothing lives at this address.
        #[allow(unsafe_code)]
        unsafe { map_page(&mut mapper, &mut frames, virt, 0x5000, Caching::WriteBack) }.unwrap();
        let (phys, flags) = lookup(&mapper, virt + 8).unwrap();
        assert_eq!(phys, 0x5008);
        assert!(flags.contains(PageTableFlags::WRITABLE));
        assert!(!flags.contains(PageTableFlags::GLOBAL | PageTableFlags::HUGE_PAGE));
        #[allow(unsafe_code)]
        let again = unsafe { map_page(&mut mapper, &mut frames, virt, 0x6000, Caching::WriteBack) };
        assert_eq!(again, Err(MapError::AlreadyMapped));
        assert_eq!(unmap_page(&mut mapper, virt), Ok(0x5000));
        assert!(lookup(&mapper, virt).is_none());
        assert_eq!(unmap_page(&mut mapper, virt), Err(MapError::NotMapped));
        // Inside a 2 MiB identity page a 4 KiB mapping is refused, not corrupted.
        #[allow(unsafe_code)]
        let inside_huge = unsafe {
            map_page(
                &mut mapper,
                &mut frames,
                0x40_0000,
                0x5000,
                Caching::WriteBack,
            )
        };
        assert_eq!(inside_huge, Err(MapError::HugePageInTheWay));
        assert_eq!(lookup(&mapper, 0x40_0000).unwrap().0, 0x40_0000);
    }

    #[test]
    fn mmio_above_4g_is_mapped_uncached_once() {
        let mut arena = Arena::new();
        let mut frames = arena.frames();
        let mut mapper = arena.mapper();
        build_identity_map(&mut mapper, &mut frames, &qemu_map(), true).unwrap();
        let bar = (8u64 << 30) + 0x1000;
        #[allow(unsafe_code)]
        let n = unsafe {
            map_identity_range(&mut mapper, &mut frames, bar, 16 << 20, Caching::Uncached)
        }
        .unwrap();
        assert_eq!(
            n, 9,
            "16 MiB starting 4 KiB into a 2 MiB page spans 9 pages"
        );
        let (phys, flags) = lookup(&mapper, bar + 0x40).unwrap();
        assert_eq!(phys, bar + 0x40);
        assert!(flags.contains(PageTableFlags::NO_CACHE));
        #[allow(unsafe_code)]
        let again =
            unsafe { map_identity_range(&mut mapper, &mut frames, bar, 4096, Caching::Uncached) }
                .unwrap();
        assert_eq!(again, 0);
        // Inside the existing low identity map nothing changes.
        #[allow(unsafe_code)]
        let low = unsafe {
            map_identity_range(
                &mut mapper,
                &mut frames,
                0xfebd_0000,
                4096,
                Caching::Uncached,
            )
        }
        .unwrap();
        assert_eq!(low, 0);
    }

    #[test]
    fn running_out_of_table_frames_is_an_error() {
        let mut arena = Arena::new();
        let usable = MemoryRegion {
            start: BASE + 4096,
            len: 2 * 4096,
            kind: RegionKind::Usable,
        };
        let mut frames = Frames::new(&[usable], &[]).unwrap();
        let mut mapper = arena.mapper();
        assert_eq!(
            build_identity_map(&mut mapper, &mut frames, &qemu_map(), false),
            Err(MapError::OutOfFrames)
        );
    }
}
