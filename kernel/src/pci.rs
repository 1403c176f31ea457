//! PCI: enumeration, BAR sizing and assignment, capabilities.
//!
//! Configuration space is reached through [`ConfigSpace`]: ECAM (memory
//! mapped, from the ACPI MCFG) or the legacy 0xCF8/0xCFC ports on bare metal,
//! a software model of devices in host tests. Enumeration walks bus 0 and
//! every bus behind a bridge, sizes each BAR (decoding disabled meanwhile),
//! assigns BARs the firmware left at zero from fixed windows, enables memory
//! and I/O decoding and bus mastering, and records the capability list
//! (MSI-X is found and recorded even though the appliance polls).

use heapless::Vec;

/// Bus/device/function address of a PCI function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bdf {
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl core::fmt::Display for Bdf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

/// 32-bit access to configuration space. Offsets are 4-byte aligned.
pub trait ConfigSpace {
    fn read32(&mut self, bdf: Bdf, offset: u16) -> u32;
    fn write32(&mut self, bdf: Bdf, offset: u16, value: u32);

    fn read16(&mut self, bdf: Bdf, offset: u16) -> u16 {
        (self.read32(bdf, offset & !3) >> ((offset & 2) * 8)) as u16
    }
    fn read8(&mut self, bdf: Bdf, offset: u16) -> u8 {
        (self.read32(bdf, offset & !3) >> ((offset & 3) * 8)) as u8
    }
}

/// Type-0/1 header offsets (PCI Local Bus Specification 3.0, §6.1).
pub mod reg {
    pub const VENDOR_DEVICE: u16 = 0x00;
    pub const COMMAND_STATUS: u16 = 0x04;
    pub const CLASS_REVISION: u16 = 0x08;
    pub const HEADER_TYPE_DWORD: u16 = 0x0c;
    pub const BAR0: u16 = 0x10;
    pub const BRIDGE_BUSES: u16 = 0x18;
    pub const CAPABILITIES_POINTER: u16 = 0x34;
    pub const INTERRUPT: u16 = 0x3c;

    pub const COMMAND_IO: u32 = 1 << 0;
    pub const COMMAND_MEMORY: u32 = 1 << 1;
    pub const COMMAND_BUS_MASTER: u32 = 1 << 2;
    pub const STATUS_CAPABILITIES: u32 = 1 << (16 + 4);
}

/// Capability ids we record by name.
pub mod cap {
    pub const MSI: u8 = 0x05;
    pub const VENDOR: u8 = 0x09;
    pub const PCIE: u8 = 0x10;
    pub const MSIX: u8 = 0x11;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarKind {
    Io,
    Memory32,
    Memory64,
}

/// A decoded base address register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    pub index: u8,
    pub kind: BarKind,
    pub prefetchable: bool,
    pub address: u64,
    pub size: u64,
}

/// Decodes a BAR from its original value and the value read back after
/// writing all ones (`high` pair only for 64-bit memory BARs). `None` for an
/// unimplemented BAR.
pub fn decode_bar(
    index: u8,
    original: u32,
    sized: u32,
    original_high: u32,
    sized_high: u32,
) -> Option<Bar> {
    if original & 1 == 1 {
        let mask = sized & !0x3;
        // I/O BARs decode at most 16 bits of address on x86.
        let size = ((!mask) & 0xffff).wrapping_add(1) as u64;
        if mask == 0 || size == 0 || size > 0x1_0000 {
            return None;
        }
        return Some(Bar {
            index,
            kind: BarKind::Io,
            prefetchable: false,
            address: (original & !0x3) as u64,
            size,
        });
    }
    let is_64 = (original >> 1) & 0b11 == 0b10;
    let prefetchable = original & 0x8 != 0;
    let (address, mask) = if is_64 {
        (
            ((original_high as u64) << 32) | (original & !0xf) as u64,
            ((sized_high as u64) << 32) | (sized & !0xf) as u64,
        )
    } else {
        (
            (original & !0xf) as u64,
            0xffff_ffff_0000_0000 | (sized & !0xf) as u64,
        )
    };
    if mask & 0xffff_fff0 == 0 && (!is_64 || sized_high == 0) {
        return None;
    }
    let size = (!mask).wrapping_add(1);
    Some(Bar {
        index,
        kind: if is_64 {
            BarKind::Memory64
        } else {
            BarKind::Memory32
        },
        prefetchable,
        address,
        size,
    })
}

/// Address windows for BARs the firmware left unassigned.
#[derive(Debug, Clone)]
pub struct BarAllocator {
    pub mem32: core::ops::Range<u64>,
    pub mem64: core::ops::Range<u64>,
    pub io: core::ops::Range<u64>,
}

impl BarAllocator {
    /// Next naturally aligned block of `size` in the window for `kind`.
    pub fn allocate(&mut self, kind: BarKind, size: u64) -> Option<u64> {
        let window = match kind {
            BarKind::Io => &mut self.io,
            BarKind::Memory32 => &mut self.mem32,
            BarKind::Memory64 => &mut self.mem64,
        };
        if !size.is_power_of_two() {
            return None;
        }
        let start = window.start.checked_add(size - 1)? & !(size - 1);
        let end = start.checked_add(size)?;
        if end > window.end {
            return None;
        }
        window.start = end;
        Some(start)
    }
}

/// MSI-X table location (PCI 3.0 §6.8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msix {
    pub capability_offset: u8,
    pub table_size: u16,
    pub table_bar: u8,
    pub table_offset: u32,
    pub pba_bar: u8,
    pub pba_offset: u32,
}

pub const MAX_CAPABILITIES: usize = 16;

/// One enumerated function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub bdf: Bdf,
    pub vendor: u16,
    pub device: u16,
    pub class: u8,
    pub subclass: u8,
    pub prog_if: u8,
    pub revision: u8,
    pub header_type: u8,
    pub bars: Vec<Bar, 6>,
    /// (id, offset) of every capability, in list order.
    pub capabilities: Vec<(u8, u8), MAX_CAPABILITIES>,
    pub msix: Option<Msix>,
    pub interrupt_line: u8,
    /// BARs this enumeration had to assign.
    pub assigned_bars: u8,
}

impl Device {
    pub fn bar(&self, index: u8) -> Option<&Bar> {
        self.bars.iter().find(|b| b.index == index)
    }

    pub fn has_capability(&self, id: u8) -> bool {
        self.capabilities.iter().any(|&(c, _)| c == id)
    }
}

/// What enumeration noticed besides the devices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnumerationStats {
    pub functions: u32,
    pub bridges: u32,
    /// Functions beyond the output list's capacity.
    pub dropped: u32,
    /// BARs that needed an address and none was left in the window.
    pub unassignable_bars: u32,
    /// Capability lists that looped or pointed into the header.
    pub bad_capability_lists: u32,
}

const MAX_CAPABILITY_HOPS: usize = 48;

fn walk_capabilities(
    cfg: &mut impl ConfigSpace,
    bdf: Bdf,
    dev: &mut Device,
    stats: &mut EnumerationStats,
) {
    if cfg.read32(bdf, reg::COMMAND_STATUS) & reg::STATUS_CAPABILITIES == 0 {
        return;
    }
    let mut offset = cfg.read8(bdf, reg::CAPABILITIES_POINTER) & !0x3;
    let mut visited = [false; 64];
    for _ in 0..MAX_CAPABILITY_HOPS {
        if offset == 0 {
            return;
        }
        if offset < 0x40 || visited[offset as usize / 4] {
            stats.bad_capability_lists += 1;
            return;
        }
        visited[offset as usize / 4] = true;
        let header = cfg.read32(bdf, offset as u16);
        let id = header as u8;
        if dev.capabilities.push((id, offset)).is_err() {
            return;
        }
        if id == cap::MSIX {
            let table = cfg.read32(bdf, offset as u16 + 4);
            let pba = cfg.read32(bdf, offset as u16 + 8);
            dev.msix = Some(Msix {
                capability_offset: offset,
                table_size: ((header >> 16) & 0x7ff) as u16 + 1,
                table_bar: (table & 0x7) as u8,
                table_offset: table & !0x7,
                pba_bar: (pba & 0x7) as u8,
                pba_offset: pba & !0x7,
            });
        }
        offset = ((header >> 8) as u8) & !0x3;
    }
    stats.bad_capability_lists += 1;
}

fn size_and_assign_bars(
    cfg: &mut impl ConfigSpace,
    bdf: Bdf,
    count: u8,
    windows: &mut BarAllocator,
    dev: &mut Device,
    stats: &mut EnumerationStats,
) {
    let command = cfg.read32(bdf, reg::COMMAND_STATUS) & 0xffff;
    // Decoding off while BARs hold all-ones, so the device answers no stray address.
    cfg.write32(
        bdf,
        reg::COMMAND_STATUS,
        command & !(reg::COMMAND_IO | reg::COMMAND_MEMORY),
    );
    let mut index = 0u8;
    while index < count {
        let offset = reg::BAR0 + index as u16 * 4;
        let original = cfg.read32(bdf, offset);
        cfg.write32(bdf, offset, 0xffff_ffff);
        let sized = cfg.read32(bdf, offset);
        cfg.write32(bdf, offset, original);
        let is_64 = original & 1 == 0 && (original >> 1) & 0b11 == 0b10 && index + 1 < count;
        let (original_high, sized_high) = if is_64 {
            let high = cfg.read32(bdf, offset + 4);
            cfg.write32(bdf, offset + 4, 0xffff_ffff);
            let sized_high = cfg.read32(bdf, offset + 4);
            cfg.write32(bdf, offset + 4, high);
            (high, sized_high)
        } else {
            (0, 0)
        };
        if let Some(mut bar) = decode_bar(index, original, sized, original_high, sized_high) {
            if bar.address == 0 {
                match windows.allocate(bar.kind, bar.size) {
                    Some(address) => {
                        bar.address = address;
                        cfg.write32(bdf, offset, (original & 0xf) | address as u32);
                        if is_64 {
                            cfg.write32(bdf, offset + 4, (address >> 32) as u32);
                        }
                        dev.assigned_bars += 1;
                    }
                    None => stats.unassignable_bars += 1,
                }
            }
            let _ = dev.bars.push(bar);
        }
        index += if is_64 { 2 } else { 1 };
    }
    let enable = reg::COMMAND_IO | reg::COMMAND_MEMORY | reg::COMMAND_BUS_MASTER;
    cfg.write32(bdf, reg::COMMAND_STATUS, command | enable);
}

fn probe_function<const N: usize>(
    cfg: &mut impl ConfigSpace,
    bdf: Bdf,
    windows: &mut BarAllocator,
    out: &mut Vec<Device, N>,
    stats: &mut EnumerationStats,
    buses: &mut [bool; 256],
    queue: &mut Vec<u8, 256>,
) -> Option<u8> {
    let id = cfg.read32(bdf, reg::VENDOR_DEVICE);
    if id & 0xffff == 0xffff || id == 0 {
        return None;
    }
    let class = cfg.read32(bdf, reg::CLASS_REVISION);
    let header_type = (cfg.read32(bdf, reg::HEADER_TYPE_DWORD) >> 16) as u8;
    stats.functions += 1;
    let mut dev = Device {
        bdf,
        vendor: id as u16,
        device: (id >> 16) as u16,
        class: (class >> 24) as u8,
        subclass: (class >> 16) as u8,
        prog_if: (class >> 8) as u8,
        revision: class as u8,
        header_type,
        bars: Vec::new(),
        capabilities: Vec::new(),
        msix: None,
        interrupt_line: cfg.read8(bdf, reg::INTERRUPT),
        assigned_bars: 0,
    };
    let bar_count = match header_type & 0x7f {
        0 => 6,
        1 => 2,
        _ => 0,
    };
    size_and_assign_bars(cfg, bdf, bar_count, windows, &mut dev, stats);
    walk_capabilities(cfg, bdf, &mut dev, stats);
    if header_type & 0x7f == 1 {
        stats.bridges += 1;
        let secondary = (cfg.read32(bdf, reg::BRIDGE_BUSES) >> 8) as u8;
        if secondary != 0 && !buses[secondary as usize] {
            buses[secondary as usize] = true;
            let _ = queue.push(secondary);
        }
    }
    if out.push(dev).is_err() {
        stats.dropped += 1;
    }
    Some(header_type)
}

/// Enumerates every function reachable from bus 0 into `out`.
pub fn enumerate<const N: usize>(
    cfg: &mut impl ConfigSpace,
    windows: &mut BarAllocator,
    out: &mut Vec<Device, N>,
) -> EnumerationStats {
    let mut stats = EnumerationStats::default();
    let mut buses = [false; 256];
    let mut queue: Vec<u8, 256> = Vec::new();
    buses[0] = true;
    let _ = queue.push(0);
    let mut next = 0;
    while let Some(&bus) = queue.get(next) {
        next += 1;
        for device in 0..32u8 {
            let bdf = Bdf {
                bus,
                device,
                function: 0,
            };
            let Some(header_type) =
                probe_function(cfg, bdf, windows, out, &mut stats, &mut buses, &mut queue)
            else {
                continue;
            };
            if header_type & 0x80 != 0 {
                for function in 1..8u8 {
                    let bdf = Bdf {
                        bus,
                        device,
                        function,
                    };
                    probe_function(cfg, bdf, windows, out, &mut stats, &mut buses, &mut queue);
                }
            }
        }
    }
    stats
}

/// Address of a function's configuration space inside an ECAM window.
pub fn ecam_address(base: u64, bus_start: u8, bdf: Bdf, offset: u16) -> u64 {
    base + ((((bdf.bus - bus_start) as u64) << 20)
        | ((bdf.device as u64 & 0x1f) << 15)
        | ((bdf.function as u64 & 0x7) << 12)
        | (offset as u64 & 0xffc))
}

/// The value written to port 0xCF8 to select a register (PCI 3.0 §3.2.2.3.2).
pub fn port_address(bdf: Bdf, offset: u16) -> u32 {
    0x8000_0000
        | (bdf.bus as u32) << 16
        | (bdf.device as u32 & 0x1f) << 11
        | (bdf.function as u32 & 0x7) << 8
        | (offset as u32 & 0xfc)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::BTreeMap;

    /// A software model of PCI functions: 256 bytes of registers each, BARs
    /// with hard-wired size masks and type bits, as hardware implements them.
    #[derive(Clone)]
    struct Function {
        regs: [u32; 64],
        /// Size of each BAR (0 = unimplemented); 64-bit BARs give the size on the low index.
        bar_sizes: [u64; 6],
    }

    impl Function {
        fn new(vendor: u16, device: u16, class: u32, header_type: u8) -> Function {
            let mut regs = [0u32; 64];
            regs[0] = vendor as u32 | (device as u32) << 16;
            regs[2] = class;
            regs[3] = (header_type as u32) << 16;
            Function {
                regs,
                bar_sizes: [0; 6],
            }
        }
        fn bar(mut self, index: usize, size: u64, type_bits: u32, address: u64) -> Function {
            self.bar_sizes[index] = size;
            self.regs[4 + index] = type_bits | address as u32;
            if type_bits & 0b110 == 0b100 {
                self.regs[5 + index] = (address >> 32) as u32;
            }
            self
        }
        fn capabilities(mut self, caps: &[(u8, u8, u32)]) -> Function {
            self.regs[1] |= reg::STATUS_CAPABILITIES;
            self.regs[0x34 / 4] = caps.first().map_or(0, |c| c.1 as u32);
            for (i, &(id, offset, extra)) in caps.iter().enumerate() {
                let next = caps.get(i + 1).map_or(0, |c| c.1 as u32);
                self.regs[offset as usize / 4] = id as u32 | next << 8 | extra << 16;
            }
            self
        }
    }

    #[derive(Default)]
    struct Bus {
        functions: BTreeMap<Bdf, Function>,
        writes: u32,
    }

    impl ConfigSpace for Bus {
        fn read32(&mut self, bdf: Bdf, offset: u16) -> u32 {
            self.functions
                .get(&bdf)
                .map_or(0xffff_ffff, |f| f.regs[offset as usize / 4])
        }
        fn write32(&mut self, bdf: Bdf, offset: u16, value: u32) {
            self.writes += 1;
            let Some(f) = self.functions.get_mut(&bdf) else {
                return;
            };
            let index = offset as usize / 4;
            match index {
                4..=9 => {
                    let bar = index - 4;
                    let low_of_64 = bar > 0
                        && f.regs[4 + bar - 1] & 0b111 == 0b100
                        && f.bar_sizes[bar - 1] != 0;
                    if low_of_64 {
                        let size = f.bar_sizes[bar - 1];
                        f.regs[index] = value & ((!(size - 1)) >> 32) as u32;
                    } else if f.bar_sizes[bar] == 0 {
                        f.regs[index] = 0;
                    } else {
                        let size = f.bar_sizes[bar];
                        let type_mask = if f.regs[index] & 1 == 1 { 0x3 } else { 0xf };
                        let type_bits = f.regs[index] & type_mask;
                        f.regs[index] =
                            (value & !(size as u32).wrapping_sub(1) & !type_mask) | type_bits;
                    }
                }
                1 => f.regs[1] = (f.regs[1] & 0xffff_0000) | (value & 0xffff),
                0 | 2 | 3 => {}
                _ => f.regs[index] = value,
            }
        }
    }

    fn bdf(bus: u8, device: u8, function: u8) -> Bdf {
        Bdf {
            bus,
            device,
            function,
        }
    }

    fn windows() -> BarAllocator {
        BarAllocator {
            mem32: 0xc000_0000..0xfe00_0000,
            mem64: 0x80_0000_0000..0x100_0000_0000,
            io: 0x1000..0x10000,
        }
    }

    #[test]
    fn bar_decoding_rules() {
        // 32-bit memory, 4 KiB, non-prefetchable.
        let b = decode_bar(1, 0xfebd_1000, 0xffff_f000, 0, 0).unwrap();
        assert_eq!(
            (b.kind, b.address, b.size, b.prefetchable),
            (BarKind::Memory32, 0xfebd_1000, 4096, false)
        );
        // 64-bit prefetchable, 16 KiB, above 4 GiB.
        let b = decode_bar(4, 0x0000_000c, 0xffff_c00c, 0x80, 0xffff_ffff).unwrap();
        assert_eq!(
            (b.kind, b.address, b.size, b.prefetchable),
            (BarKind::Memory64, 0x80_0000_0000, 0x4000, true)
        );
        // 64-bit BAR larger than 4 GiB.
        let b = decode_bar(0, 0x4, 0x0000_000c & 0xc | 0x4, 0, 0xffff_fffe).unwrap();
        assert_eq!(b.size, 8 << 30);
        // I/O, 32 bytes; upper bits hard-wired to zero as on many devices.
        let b = decode_bar(0, 0xc001, 0x0000_ffe1, 0, 0).unwrap();
        assert_eq!((b.kind, b.address, b.size), (BarKind::Io, 0xc000, 32));
        // Unimplemented.
        assert_eq!(decode_bar(2, 0, 0, 0, 0), None);
        assert_eq!(decode_bar(2, 1, 1, 0, 0), None);
    }

    #[test]
    fn allocator_aligns_naturally_and_runs_out() {
        let mut w = BarAllocator {
            mem32: 0x1000..0x10000,
            mem64: 0..0,
            io: 0..0,
        };
        assert_eq!(w.allocate(BarKind::Memory32, 0x100), Some(0x1000));
        assert_eq!(w.allocate(BarKind::Memory32, 0x4000), Some(0x4000));
        assert_eq!(w.allocate(BarKind::Memory32, 0x8000), Some(0x8000));
        assert_eq!(w.allocate(BarKind::Memory32, 0x1000), None);
        assert_eq!(w.allocate(BarKind::Memory32, 0x300), None);
        assert_eq!(w.allocate(BarKind::Memory64, 0x1000), None);
    }

    fn q35_like() -> Bus {
        let mut bus = Bus::default();
        // Host bridge.
        bus.functions
            .insert(bdf(0, 0, 0), Function::new(0x8086, 0x29c0, 0x0600_0000, 0));
        // virtio-net (legacy): I/O BAR0, MMIO BAR1, 64-bit prefetchable BAR4, MSI-X.
        bus.functions.insert(
            bdf(0, 2, 0),
            Function::new(0x1af4, 0x1000, 0x0200_0000, 0)
                .bar(0, 32, 0x1, 0xc040)
                .bar(1, 4096, 0x0, 0xfebd_1000)
                .bar(4, 0x4000, 0xc, 0xfe00_0000)
                .capabilities(&[(cap::VENDOR, 0x84, 0), (cap::MSIX, 0x98, 2)]),
        );
        // ivshmem-plain left unassigned by firmware: BAR0 regs, BAR2 64-bit shared memory.
        bus.functions.insert(
            bdf(0, 3, 0),
            Function::new(0x1af4, 0x1110, 0x0500_0000, 0)
                .bar(0, 256, 0x0, 0)
                .bar(2, 64 << 20, 0xc, 0),
        );
        // Multi-function device: function 0 and 3.
        bus.functions.insert(
            bdf(0, 0x1f, 0),
            Function::new(0x8086, 0x2918, 0x0601_0000, 0x80),
        );
        bus.functions.insert(
            bdf(0, 0x1f, 3),
            Function::new(0x8086, 0x2930, 0x0c05_0000, 0).bar(4, 64, 0x1, 0x700),
        );
        // A bridge to bus 1 with one device behind it.
        let mut bridge = Function::new(0x1b36, 0x000c, 0x0604_0000, 1);
        bridge.regs[6] = 0x0001_0100; // primary 0, secondary 1, subordinate 1
        bus.functions.insert(bdf(0, 4, 0), bridge);
        bus.functions.insert(
            bdf(1, 0, 0),
            Function::new(0x8086, 0x10fb, 0x0200_0000, 0).bar(0, 512 * 1024, 0xc, 0),
        );
        bus
    }

    #[test]
    fn enumerates_sizes_assigns_and_enables() {
        let mut bus = q35_like();
        let mut devices: Vec<Device, 32> = Vec::new();
        let stats = enumerate(&mut bus, &mut windows(), &mut devices);
        assert_eq!(stats.functions, 7);
        assert_eq!(stats.bridges, 1);
        assert_eq!(stats.dropped, 0);
        let ids: std::vec::Vec<_> = devices
            .iter()
            .map(|d| (d.bdf, d.vendor, d.device))
            .collect();
        assert!(
            ids.contains(&(bdf(1, 0, 0), 0x8086, 0x10fb)),
            "device behind the bridge: {ids:x?}"
        );
        assert!(
            ids.contains(&(bdf(0, 0x1f, 3), 0x8086, 0x2930)),
            "second function: {ids:x?}"
        );

        let net = devices.iter().find(|d| d.device == 0x1000).unwrap();
        assert_eq!(net.class, 0x02);
        assert_eq!(
            net.bar(0).map(|b| (b.kind, b.address, b.size)),
            Some((BarKind::Io, 0xc040, 32))
        );
        assert_eq!(
            net.bar(1).map(|b| (b.kind, b.address, b.size)),
            Some((BarKind::Memory32, 0xfebd_1000, 4096))
        );
        let bar4 = net.bar(4).unwrap();
        assert_eq!(
            (bar4.kind, bar4.prefetchable, bar4.address, bar4.size),
            (BarKind::Memory64, true, 0xfe00_0000, 0x4000)
        );
        assert_eq!(net.assigned_bars, 0);
        // Firmware values are left in place after sizing.
        assert_eq!(bus.read32(bdf(0, 2, 0), reg::BAR0 + 4), 0xfebd_1000);
        let msix = net.msix.unwrap();
        assert_eq!((msix.table_size, msix.capability_offset), (3, 0x98));
        assert!(net.has_capability(cap::VENDOR));

        let shm = devices.iter().find(|d| d.device == 0x1110).unwrap();
        assert_eq!(shm.assigned_bars, 2);
        let bar2 = shm.bar(2).unwrap();
        assert_eq!((bar2.address, bar2.size), (0x80_0000_0000, 64 << 20));
        assert_eq!(bus.read32(bdf(0, 3, 0), reg::BAR0 + 8) & !0xf, 0);
        assert_eq!(bus.read32(bdf(0, 3, 0), reg::BAR0 + 12), 0x80);
        assert!(shm.bar(0).unwrap().address >= 0xc000_0000);

        for d in &devices {
            let command = bus.read32(d.bdf, reg::COMMAND_STATUS);
            assert_eq!(command & 0x7, 0x7, "{} not enabled", d.bdf);
        }
    }

    #[test]
    fn looping_capability_list_is_bounded_and_counted() {
        let mut bus = Bus::default();
        let f = Function::new(0x1af4, 0x1000, 0x0200_0000, 0).capabilities(&[(cap::MSI, 0x40, 0)]);
        bus.functions.insert(bdf(0, 1, 0), f);
        // Point the capability back at itself.
        bus.functions.get_mut(&bdf(0, 1, 0)).unwrap().regs[0x40 / 4] |= 0x40 << 8;
        let mut devices: Vec<Device, 4> = Vec::new();
        let stats = enumerate(&mut bus, &mut windows(), &mut devices);
        assert_eq!(stats.bad_capability_lists, 1);
        assert_eq!(devices[0].capabilities.as_slice(), &[(cap::MSI, 0x40)]);
    }

    #[test]
    fn full_output_and_exhausted_windows_are_counted() {
        let mut bus = q35_like();
        let mut devices: Vec<Device, 2> = Vec::new();
        let mut tiny = BarAllocator {
            mem32: 0xc000_0000..0xc000_0100,
            mem64: 0..0,
            io: 0..0,
        };
        let stats = enumerate(&mut bus, &mut tiny, &mut devices);
        assert_eq!(stats.dropped, 5);
        assert_eq!(
            stats.unassignable_bars, 2,
            "ivshmem BAR2 and the bus-1 NIC's BAR0 have no window"
        );
    }

    #[test]
    fn config_addresses() {
        let b = bdf(1, 2, 3);
        assert_eq!(
            ecam_address(0xb000_0000, 0, b, 0x10),
            0xb000_0000 + (1 << 20) + (2 << 15) + (3 << 12) + 0x10
        );
        assert_eq!(port_address(b, 0x3d), 0x8001_1300 | 0x3c);
    }
}
