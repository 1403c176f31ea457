//! What the loader tells us: memory map, command line and ACPI RSDP.
//!
//! Two loaders hand over control: QEMU's `-kernel` through PVH (`hvm_start_info`)
//! and GRUB through multiboot2 (a tagged information block). Both are parsed
//! from byte slices here so the parsers can be tested on the host with
//! captured or synthesised structures; the arch code turns the physical
//! pointer it receives into a slice of the right length.

use heapless::{String, Vec};

/// Magic value in `hvm_start_info.magic` ("xEn3" with the 0x80 bit cleared).
pub const PVH_MAGIC: u32 = 0x336e_c578;
/// Value of `eax` when a multiboot2 loader enters the image.
pub const MULTIBOOT2_BOOTLOADER_MAGIC: u32 = 0x36d7_6289;

/// Most memory-map entries kept; firmware maps have a few dozen at most.
pub const MAX_REGIONS: usize = 64;
/// Longest command line kept.
pub const MAX_CMDLINE: usize = 512;

/// Which protocol brought us here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    Pvh,
    Multiboot2,
}

impl Loader {
    pub const fn name(self) -> &'static str {
        match self {
            Loader::Pvh => "pvh",
            Loader::Multiboot2 => "multiboot2",
        }
    }
}

/// E820-style region type, shared by PVH and multiboot2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionKind {
    Usable,
    Reserved,
    AcpiReclaimable,
    AcpiNvs,
    Bad,
    Other(u32),
}

impl RegionKind {
    pub const fn from_e820(kind: u32) -> RegionKind {
        match kind {
            1 => RegionKind::Usable,
            2 => RegionKind::Reserved,
            3 => RegionKind::AcpiReclaimable,
            4 => RegionKind::AcpiNvs,
            5 => RegionKind::Bad,
            other => RegionKind::Other(other),
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            RegionKind::Usable => "usable",
            RegionKind::Reserved => "reserved",
            RegionKind::AcpiReclaimable => "acpi-reclaimable",
            RegionKind::AcpiNvs => "acpi-nvs",
            RegionKind::Bad => "bad",
            RegionKind::Other(_) => "other",
        }
    }
}

/// One physical memory range `[start, start + len)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryRegion {
    pub start: u64,
    pub len: u64,
    pub kind: RegionKind,
}

impl MemoryRegion {
    /// End address, saturating so a hostile map cannot wrap around.
    pub const fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }
}

/// Where the RSDP lives: PVH gives its physical address, multiboot2 a copy
/// of its bytes inside the information block (which we address in place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rsdp {
    pub phys: u64,
}

/// Everything the platform code needs from the loader, copied out of the
/// loader's structures so they may be overwritten afterwards.
#[derive(Debug, Clone)]
pub struct BootInfo {
    pub loader: Loader,
    pub cmdline: String<MAX_CMDLINE>,
    pub regions: Vec<MemoryRegion, MAX_REGIONS>,
    pub rsdp: Option<Rsdp>,
    /// Regions beyond `MAX_REGIONS` that had to be left out.
    pub regions_dropped: usize,
    /// The command line was longer than `MAX_CMDLINE` and was cut.
    pub cmdline_truncated: bool,
}

impl BootInfo {
    fn new(loader: Loader) -> BootInfo {
        BootInfo {
            loader,
            cmdline: String::new(),
            regions: Vec::new(),
            rsdp: None,
            regions_dropped: 0,
            cmdline_truncated: false,
        }
    }

    fn push_region(&mut self, region: MemoryRegion) {
        if region.len == 0 {
            return;
        }
        if self.regions.push(region).is_err() {
            self.regions_dropped += 1;
        }
    }

    fn set_cmdline(&mut self, raw: &[u8]) {
        let text = raw.split(|&b| b == 0).next().unwrap_or(&[]);
        for &b in text {
            // Keep printable ASCII only: the command line is echoed to the console.
            let c = if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            };
            if self.cmdline.push(c).is_err() {
                self.cmdline_truncated = true;
                break;
            }
        }
    }

    /// Total bytes of usable RAM.
    pub fn usable_bytes(&self) -> u64 {
        self.regions
            .iter()
            .filter(|r| r.kind == RegionKind::Usable)
            .map(|r| r.len)
            .fold(0u64, u64::saturating_add)
    }

    /// Whitespace-separated command-line words.
    pub fn args(&self) -> impl Iterator<Item = &str> {
        self.cmdline.split_ascii_whitespace()
    }

    /// True when the bare word `flag` is on the command line.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.args().any(|a| a == flag)
    }

    /// The value of `key=value` on the command line.
    pub fn value_of(&self, key: &str) -> Option<&str> {
        self.args()
            .find_map(|a| a.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
    }
}

/// Why a loader structure could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootInfoError {
    /// The structure is shorter than its header says, or than its fixed part.
    Truncated,
    BadMagic(u32),
    /// A pointer inside the structure points outside memory we can read.
    BadPointer(u64),
    /// A multiboot2 tag had an impossible size.
    BadTag {
        kind: u32,
        size: u32,
    },
}

/// Reads physical memory on behalf of the parsers: identity-mapped memory on
/// bare metal, a test buffer on the host. `None` when the range is not readable.
pub trait PhysRead {
    fn read(&self, phys: u64, len: usize) -> Option<&[u8]>;
    /// Bytes up to (excluding) the first NUL, at most `max` long.
    fn read_cstr(&self, phys: u64, max: usize) -> Option<&[u8]> {
        let bytes = self.read(phys, max).or_else(|| {
            // A string near the end of readable memory: shrink until readable.
            (1..max).rev().find_map(|n| self.read(phys, n))
        })?;
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        bytes.get(..end)
    }
}

fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    let raw = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes(raw.try_into().ok()?))
}

fn u64_at(bytes: &[u8], offset: usize) -> Option<u64> {
    let raw = bytes.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_le_bytes(raw.try_into().ok()?))
}

/// `struct hvm_start_info` field offsets (Xen public/arch-x86/hvm/start_info.h).
mod pvh_field {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 4;
    pub const CMDLINE_PADDR: usize = 24;
    pub const RSDP_PADDR: usize = 32;
    pub const MEMMAP_PADDR: usize = 40;
    pub const MEMMAP_ENTRIES: usize = 48;
    /// Size of the version-0 structure (no memory map fields).
    pub const V0_SIZE: usize = 40;
    pub const V1_SIZE: usize = 56;
    pub const MEMMAP_ENTRY_SIZE: usize = 24;
}

/// Parses a PVH `hvm_start_info` located at `info_phys`.
pub fn parse_pvh(mem: &impl PhysRead, info_phys: u64) -> Result<BootInfo, BootInfoError> {
    use pvh_field as f;
    let head = mem
        .read(info_phys, f::V0_SIZE)
        .ok_or(BootInfoError::BadPointer(info_phys))?;
    let magic = u32_at(head, f::MAGIC).ok_or(BootInfoError::Truncated)?;
    if magic != PVH_MAGIC {
        return Err(BootInfoError::BadMagic(magic));
    }
    let version = u32_at(head, f::VERSION).ok_or(BootInfoError::Truncated)?;
    let mut info = BootInfo::new(Loader::Pvh);

    let cmdline = u64_at(head, f::CMDLINE_PADDR).ok_or(BootInfoError::Truncated)?;
    if cmdline != 0 {
        let text = mem
            .read_cstr(cmdline, MAX_CMDLINE + 1)
            .ok_or(BootInfoError::BadPointer(cmdline))?;
        info.set_cmdline(text);
    }
    let rsdp = u64_at(head, f::RSDP_PADDR).ok_or(BootInfoError::Truncated)?;
    if rsdp != 0 {
        info.rsdp = Some(Rsdp { phys: rsdp });
    }

    if version >= 1 {
        let full = mem
            .read(info_phys, f::V1_SIZE)
            .ok_or(BootInfoError::BadPointer(info_phys))?;
        let map = u64_at(full, f::MEMMAP_PADDR).ok_or(BootInfoError::Truncated)?;
        let entries = u32_at(full, f::MEMMAP_ENTRIES).ok_or(BootInfoError::Truncated)? as usize;
        if map != 0 && entries != 0 {
            let len = entries
                .checked_mul(f::MEMMAP_ENTRY_SIZE)
                .ok_or(BootInfoError::Truncated)?;
            let table = mem.read(map, len).ok_or(BootInfoError::BadPointer(map))?;
            for entry in table.chunks_exact(f::MEMMAP_ENTRY_SIZE) {
                let start = u64_at(entry, 0).ok_or(BootInfoError::Truncated)?;
                let len = u64_at(entry, 8).ok_or(BootInfoError::Truncated)?;
                let kind = u32_at(entry, 16).ok_or(BootInfoError::Truncated)?;
                info.push_region(MemoryRegion {
                    start,
                    len,
                    kind: RegionKind::from_e820(kind),
                });
            }
        }
    }
    Ok(info)
}

/// Multiboot2 tag types we use (Multiboot2 specification §3.6).
mod mb2_tag {
    pub const END: u32 = 0;
    pub const CMDLINE: u32 = 1;
    pub const MEMORY_MAP: u32 = 6;
    pub const ACPI_OLD: u32 = 14;
    pub const ACPI_NEW: u32 = 15;
}

/// Parses a multiboot2 boot information block at `mbi_phys`.
pub fn parse_multiboot2(mem: &impl PhysRead, mbi_phys: u64) -> Result<BootInfo, BootInfoError> {
    let head = mem
        .read(mbi_phys, 8)
        .ok_or(BootInfoError::BadPointer(mbi_phys))?;
    let total = u32_at(head, 0).ok_or(BootInfoError::Truncated)? as usize;
    if total < 16 {
        return Err(BootInfoError::Truncated);
    }
    let block = mem
        .read(mbi_phys, total)
        .ok_or(BootInfoError::BadPointer(mbi_phys))?;
    let mut info = BootInfo::new(Loader::Multiboot2);
    let mut offset = 8usize;
    let mut saw_new_acpi = false;
    loop {
        let kind = u32_at(block, offset).ok_or(BootInfoError::Truncated)?;
        let size = u32_at(block, offset + 4).ok_or(BootInfoError::Truncated)?;
        if (size as usize) < 8 || offset + size as usize > total {
            return Err(BootInfoError::BadTag { kind, size });
        }
        let body = &block[offset + 8..offset + size as usize];
        match kind {
            mb2_tag::END => break,
            mb2_tag::CMDLINE => info.set_cmdline(body),
            mb2_tag::MEMORY_MAP => {
                let entry_size = u32_at(body, 0).ok_or(BootInfoError::Truncated)? as usize;
                if entry_size < 24 {
                    return Err(BootInfoError::BadTag { kind, size });
                }
                let entries = body.get(8..).ok_or(BootInfoError::Truncated)?;
                for entry in entries.chunks_exact(entry_size) {
                    let start = u64_at(entry, 0).ok_or(BootInfoError::Truncated)?;
                    let len = u64_at(entry, 8).ok_or(BootInfoError::Truncated)?;
                    let kind = u32_at(entry, 16).ok_or(BootInfoError::Truncated)?;
                    info.push_region(MemoryRegion {
                        start,
                        len,
                        kind: RegionKind::from_e820(kind),
                    });
                }
            }
            // The tag carries a copy of the RSDP; prefer the ACPI 2.0 one.
            mb2_tag::ACPI_NEW | mb2_tag::ACPI_OLD if kind == mb2_tag::ACPI_NEW || !saw_new_acpi => {
                info.rsdp = Some(Rsdp {
                    phys: mbi_phys + offset as u64 + 8,
                });
                saw_new_acpi |= kind == mb2_tag::ACPI_NEW;
            }
            _ => {}
        }
        // Tags are padded to 8-byte alignment.
        offset = (offset + size as usize + 7) & !7;
        if offset >= total {
            break;
        }
    }
    Ok(info)
}

/// Parses a physical range written `0xADDR:SIZE` (hex address; size as
/// `4096`, `512K`, `1M`, `1G`), e.g. the `mailbox=` boot option.
pub fn parse_phys_range(text: &str) -> Option<(u64, u64)> {
    let (addr, size) = text.split_once(':')?;
    let addr = u64::from_str_radix(addr.trim_start_matches("0x"), 16).ok()?;
    Some((addr, crate::dma::parse_size(size)?))
}

/// Offset of a valid ACPI RSDP ("RSD PTR " on a 16-byte boundary whose first
/// 20 bytes sum to zero) within `area`: how BIOS systems are searched when the
/// loader does not pass the RSDP (ACPI 6.4 §5.2.5.1).
pub fn find_rsdp(area: &[u8]) -> Option<usize> {
    (0..area.len().saturating_sub(19))
        .step_by(16)
        .find(|&offset| {
            let candidate = &area[offset..offset + 20];
            candidate.starts_with(b"RSD PTR ")
                && candidate.iter().fold(0u8, |a, b| a.wrapping_add(*b)) == 0
        })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec as StdVec;

    /// A fake physical address space: one buffer at a base address.
    struct Phys {
        base: u64,
        bytes: StdVec<u8>,
    }

    impl PhysRead for Phys {
        fn read(&self, phys: u64, len: usize) -> Option<&[u8]> {
            let start = phys.checked_sub(self.base)? as usize;
            self.bytes.get(start..start.checked_add(len)?)
        }
    }

    fn put_u32(buf: &mut [u8], at: usize, v: u32) {
        buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn put_u64(buf: &mut [u8], at: usize, v: u64) {
        buf[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    const BASE: u64 = 0x6000;

    fn pvh_image(version: u32, cmdline: &[u8]) -> Phys {
        let mut b = std::vec![0u8; 0x400];
        put_u32(&mut b, 0, PVH_MAGIC);
        put_u32(&mut b, 4, version);
        put_u64(&mut b, 24, BASE + 0x100);
        put_u64(&mut b, 32, 0xf_5a40);
        put_u64(&mut b, 40, BASE + 0x200);
        put_u32(&mut b, 48, 3);
        b[0x100..0x100 + cmdline.len()].copy_from_slice(cmdline);
        let entries = [
            (0u64, 0x9fc00u64, 1u32),
            (0x10_0000, 0x1fee_0000, 1),
            (0xfeff_c000, 0x4000, 2),
        ];
        for (i, (s, l, k)) in entries.iter().enumerate() {
            let at = 0x200 + i * 24;
            put_u64(&mut b, at, *s);
            put_u64(&mut b, at + 8, *l);
            put_u32(&mut b, at + 16, *k);
        }
        Phys {
            base: BASE,
            bytes: b,
        }
    }

    #[test]
    fn pvh_v1_gives_map_cmdline_rsdp() {
        let mem = pvh_image(1, b"test=paging fault=pf\0");
        let info = parse_pvh(&mem, BASE).unwrap();
        assert_eq!(info.loader, Loader::Pvh);
        assert_eq!(info.cmdline.as_str(), "test=paging fault=pf");
        assert_eq!(info.value_of("test"), Some("paging"));
        assert_eq!(info.value_of("fault"), Some("pf"));
        assert!(!info.has_flag("test"));
        assert_eq!(info.rsdp, Some(Rsdp { phys: 0xf_5a40 }));
        assert_eq!(info.regions.len(), 3);
        assert_eq!(info.regions[2].kind, RegionKind::Reserved);
        assert_eq!(info.usable_bytes(), 0x9fc00 + 0x1fee_0000);
    }

    #[test]
    fn pvh_v0_has_no_memory_map() {
        let mem = pvh_image(0, b"\0");
        let info = parse_pvh(&mem, BASE).unwrap();
        assert!(info.regions.is_empty());
        assert_eq!(info.cmdline.as_str(), "");
    }

    #[test]
    fn pvh_rejects_bad_magic_and_bad_pointers() {
        let mut mem = pvh_image(1, b"x\0");
        put_u32(&mut mem.bytes, 0, 0xdead_beef);
        assert_eq!(
            parse_pvh(&mem, BASE).unwrap_err(),
            BootInfoError::BadMagic(0xdead_beef)
        );
        let mut mem = pvh_image(1, b"x\0");
        put_u64(&mut mem.bytes, 40, 0x9999_0000);
        assert_eq!(
            parse_pvh(&mem, BASE).unwrap_err(),
            BootInfoError::BadPointer(0x9999_0000)
        );
        assert_eq!(
            parse_pvh(&mem, 0x10).unwrap_err(),
            BootInfoError::BadPointer(0x10)
        );
    }

    #[test]
    fn pvh_huge_entry_count_is_an_error_not_a_panic() {
        let mut mem = pvh_image(1, b"x\0");
        put_u32(&mut mem.bytes, 48, u32::MAX);
        assert!(parse_pvh(&mem, BASE).is_err());
    }

    #[test]
    fn cmdline_is_sanitised_and_bounded() {
        let mut long = std::vec![b'a'; 600];
        long.push(0);
        let mem = pvh_image(1, &long[..0x100]);
        let info = parse_pvh(&mem, BASE).unwrap();
        assert_eq!(info.cmdline.len(), 0x100);
        let mem = pvh_image(1, b"a\x01b\0");
        assert_eq!(parse_pvh(&mem, BASE).unwrap().cmdline.as_str(), "a?b");
    }

    fn mb2_block(tags: &[(u32, StdVec<u8>)]) -> StdVec<u8> {
        let mut b = std::vec![0u8; 8];
        for (kind, body) in tags {
            let size = 8 + body.len();
            b.extend_from_slice(&kind.to_le_bytes());
            b.extend_from_slice(&(size as u32).to_le_bytes());
            b.extend_from_slice(body);
            while !b.len().is_multiple_of(8) {
                b.push(0);
            }
        }
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&8u32.to_le_bytes());
        let total = b.len() as u32;
        put_u32(&mut b, 0, total);
        b
    }

    fn mb2_mmap(entries: &[(u64, u64, u32)]) -> StdVec<u8> {
        let mut body = StdVec::new();
        body.extend_from_slice(&24u32.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        for (s, l, k) in entries {
            body.extend_from_slice(&s.to_le_bytes());
            body.extend_from_slice(&l.to_le_bytes());
            body.extend_from_slice(&k.to_le_bytes());
            body.extend_from_slice(&0u32.to_le_bytes());
        }
        body
    }

    #[test]
    fn multiboot2_tags_are_read() {
        let block = mb2_block(&[
            (1, b"test\0".to_vec()),
            (
                6,
                mb2_mmap(&[
                    (0, 0x9f000, 1),
                    (0x10_0000, 0x7ee0_0000, 1),
                    (0xfffc_0000, 0x4_0000, 2),
                ]),
            ),
            (14, std::vec![0xAA; 20]),
            (15, std::vec![0xBB; 36]),
            (14, std::vec![0xCC; 20]),
        ]);
        let mem = Phys {
            base: BASE,
            bytes: block,
        };
        let info = parse_multiboot2(&mem, BASE).unwrap();
        assert_eq!(info.loader, Loader::Multiboot2);
        assert!(info.has_flag("test"));
        assert_eq!(info.regions.len(), 3);
        assert_eq!(info.usable_bytes(), 0x9f000 + 0x7ee0_0000);
        // The ACPI 2.0 copy wins over either 1.0 copy.
        let rsdp = info.rsdp.unwrap().phys;
        assert_eq!(mem.read(rsdp, 1).unwrap()[0], 0xBB);
    }

    #[test]
    fn multiboot2_bad_tag_sizes_are_errors() {
        let mut block = mb2_block(&[(1, b"x\0".to_vec())]);
        put_u32(&mut block, 12, 4); // tag size below header size
        let mem = Phys {
            base: BASE,
            bytes: block,
        };
        assert!(matches!(
            parse_multiboot2(&mem, BASE),
            Err(BootInfoError::BadTag { kind: 1, size: 4 })
        ));
        let mut block = mb2_block(&[(1, b"x\0".to_vec())]);
        put_u32(&mut block, 12, 0x1000); // tag runs past the block
        let mem = Phys {
            base: BASE,
            bytes: block,
        };
        assert!(parse_multiboot2(&mem, BASE).is_err());
    }

    #[test]
    fn rsdp_scan_needs_alignment_signature_and_checksum() {
        let mut area = std::vec![0u8; 256];
        let mut rsdp = std::vec::Vec::from(&b"RSD PTR \0BOCHS \0\0\0\0\0"[..]);
        let sum = rsdp.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        rsdp[8] = 0u8.wrapping_sub(sum);
        area[40..60].copy_from_slice(&rsdp); // misaligned: ignored
        assert_eq!(find_rsdp(&area), None);
        area[96..116].copy_from_slice(&rsdp);
        assert_eq!(find_rsdp(&area), Some(96));
        area[100] ^= 1; // checksum broken
        assert_eq!(find_rsdp(&area), None);
        assert_eq!(find_rsdp(&area[..10]), None);
    }

    #[test]
    fn physical_ranges() {
        assert_eq!(
            parse_phys_range("0x80000000:1M"),
            Some((0x8000_0000, 1 << 20))
        );
        assert_eq!(parse_phys_range("1000:4096"), Some((0x1000, 4096)));
        assert_eq!(parse_phys_range("0x1000"), None);
        assert_eq!(parse_phys_range("zz:1M"), None);
        assert_eq!(parse_phys_range("0x1000:lots"), None);
    }

    #[test]
    fn too_many_regions_are_counted_not_fatal() {
        let entries: StdVec<_> = (0..70u64).map(|i| (i * 0x1000, 0x1000, 1)).collect();
        let block = mb2_block(&[(6, mb2_mmap(&entries))]);
        let mem = Phys {
            base: BASE,
            bytes: block,
        };
        let info = parse_multiboot2(&mem, BASE).unwrap();
        assert_eq!(info.regions.len(), MAX_REGIONS);
        assert_eq!(info.regions_dropped, 6);
    }
}
