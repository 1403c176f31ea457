//! Platform bring-up on the boot core, from the loader's hand-over to "ready".
//!
//! Order matters: the console first (so every later failure is visible), then
//! the loader's information, descriptor tables (so faults are reported), the
//! clock, the frame allocator and finally the appliance's own page tables.

use crate::acpi::{self, AcpiInfo, IdentityHandler};
use crate::arch::pci_access::{Ecam, PortIo};
use crate::arch::{cpu, gdt, interrupts, pit};
use crate::bootinfo::{self, BootInfo, Loader, PhysRead};
use crate::dma::{self, DmaRegion};
use crate::memory::frames::{FrameAllocator, PhysRange};
use crate::memory::paging::{self, MapStats};
use crate::pci::{self, BarAllocator, BarKind, Device, EnumerationStats};
use crate::sync::{BootCell, SpinLock};
use crate::time::{self, Clock, TscSource};
use crate::{print, println};
use core::ptr::NonNull;
use heapless::Vec;
use x86_64::structures::paging::{OffsetPageTable, PageTable, PhysFrame};
use x86_64::{PhysAddr, VirtAddr};

/// Loader identifiers passed by the entry code in `edi`.
pub const ENTRY_PVH: u32 = 1;
pub const ENTRY_MULTIBOOT2: u32 = 2;

extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// Everything the platform set up, shared read-mostly with the rest of the image.
pub struct Platform {
    pub info: BootInfo,
    pub clock: Clock,
    pub frames: SpinLock<FrameAllocator>,
    pml4_phys: SpinLock<u64>,
    pub map_stats: MapStats,
    /// UTC from the CMOS clock at boot, carried by the TSC; `None` when the
    /// RTC gave no plausible date.
    pub wall: Option<time::WallClock>,
    pub acpi: AcpiInfo,
    pub pci: Vec<Device, MAX_PCI_FUNCTIONS>,
    pub pci_stats: EnumerationStats,
    pub pci_via_ecam: bool,
    pub dma: SpinLock<DmaRegion>,
    pub entry_tsc: u64,
    /// When bring-up finished (application processors included).
    pub ready_tsc: core::sync::atomic::AtomicU64,
    pub smp: crate::sync::BootCell<crate::smp::StartReport>,
    /// Where the companion's mailbox is, or why there is none.
    pub mailbox: crate::sync::BootCell<Result<(u64, usize), crate::mailbox::MailboxError>>,
}

impl Platform {
    /// Runs `f` with a mapper over the live page tables.
    pub fn with_mapper<R>(
        &self,
        f: impl FnOnce(&mut OffsetPageTable<'_>, &mut FrameAllocator) -> R,
    ) -> R {
        let pml4 = self.pml4_phys.lock();
        let mut frames = self.frames.lock();
        // SAFETY: the PML4 frame is identity mapped and only touched while
        // `pml4_phys` is locked, so this is the only reference to it.
        #[allow(unsafe_code)]
        let table = unsafe { &mut *(*pml4 as *mut PageTable) };
        // SAFETY: physical memory is identity mapped (offset 0).
        #[allow(unsafe_code)]
        let mut mapper = unsafe { OffsetPageTable::new(table, VirtAddr::new(0)) };
        f(&mut mapper, &mut frames)
    }

    pub fn now_ns(&self) -> u64 {
        self.clock.ns_since_base(cpu::rdtsc())
    }

    /// Nanoseconds since the Unix epoch (0 when the RTC was unusable).
    pub fn utc_ns(&self) -> u64 {
        self.wall
            .map_or(0, |w| w.unix_ns(&self.clock, cpu::rdtsc()))
    }
}

static PLATFORM: BootCell<Platform> = BootCell::new();

/// PCI functions recorded; more are counted in `pci_stats.dropped`.
pub const MAX_PCI_FUNCTIONS: usize = 32;

pub fn platform() -> Option<&'static Platform> {
    PLATFORM.get()
}

/// Physical memory as the loader left it: identity mapped below 4 GiB by the
/// entry code's tables.
struct IdentityMemory;

impl PhysRead for IdentityMemory {
    fn read(&self, phys: u64, len: usize) -> Option<&[u8]> {
        let end = phys.checked_add(len as u64)?;
        if phys == 0 || end > paging::LOW_MMIO_LIMIT {
            return None;
        }
        // SAFETY: the range is inside the identity map and only read; the
        // loader's structures are not modified while we parse them.
        #[allow(unsafe_code)]
        Some(unsafe { core::slice::from_raw_parts(phys as *const u8, len) })
    }
}

fn fail(what: &str, detail: impl core::fmt::Debug) -> ! {
    println!("BOOT ERROR: {what}: {detail:?}");
    crate::arch::exit::exit(crate::arch::exit::ExitCode::Failure)
}

/// PIT windows measured for calibration. Each is ~1 ms; the median of
/// several survives a window stretched by an SMI on a host, or by the
/// emulator being descheduled under TCG.
const CALIBRATION_WINDOWS: usize = 9;
/// Rounds of `CALIBRATION_WINDOWS` before an implausible rate stops the boot.
const CALIBRATION_ATTEMPTS: usize = 5;
/// Under an emulator, rounds of `CALIBRATION_WINDOWS` tried until two in a
/// row agree within `CALIBRATION_AGREEMENT_PPM`.
const EMULATED_CALIBRATION_ATTEMPTS: usize = 8;
const CALIBRATION_AGREEMENT_PPM: u64 = 20_000;
/// 1 ms of PIT ticks; ±1 tick is 0.08 %, well below the noise the median removes.
const CALIBRATION_PIT_TICKS: u16 = 1_193;

/// Median TSC rate over `windows` PIT windows.
pub fn pit_median_hz(windows: usize) -> Option<u64> {
    let mut rates = [0u64; 16];
    let windows = windows.clamp(1, rates.len());
    for rate in rates.iter_mut().take(windows) {
        let (tsc, pit_ticks) = pit::measure(CALIBRATION_PIT_TICKS, 1 << 30)?;
        *rate = time::hz_from_pit(tsc, pit_ticks)?;
    }
    let rates = &mut rates[..windows];
    rates.sort_unstable();
    Some(rates[windows / 2])
}

fn calibrate_tsc() -> Clock {
    let base = cpu::rdtsc();
    let max = cpu::max_leaf();
    let mut found: Option<(u64, TscSource)> = None;
    if max >= 0x15 {
        let r = cpu::cpuid(0x15, 0);
        found = time::hz_from_cpuid15(r.eax, r.ebx, r.ecx).map(|hz| (hz, TscSource::Cpuid15));
    }
    if found.is_none() {
        if let Some((_, top)) = cpu::hypervisor() {
            if top >= 0x4000_0010 {
                let r = cpu::cpuid(0x4000_0010, 0);
                found = time::hz_from_hypervisor(r.eax).map(|hz| (hz, TscSource::Hypervisor));
            }
        }
    }
    if found.is_none() && max >= 0x16 && cpu::hypervisor().is_none() {
        // Base frequency equals the TSC rate on bare metal only; under an
        // emulator it describes the host, not the guest's TSC.
        found = time::hz_from_cpuid16(cpu::cpuid(0x16, 0).eax).map(|hz| (hz, TscSource::Cpuid16));
    }
    let (hz, source) = match found {
        Some(f) => f,
        None => {
            // An emulated CPU descheduled by a busy host through most of the
            // windows gives an impossible median: measure again (a few
            // milliseconds each) before giving up.
            //
            // Under an emulator a busy host can also skew most windows of one
            // round the same way (CI saw a median of 2.95 GHz on a 2.0 GHz
            // host TSC), so there a round counts only once the next one
            // agrees with it.
            let emulated = cpu::hypervisor().is_some();
            let attempts = if emulated {
                EMULATED_CALIBRATION_ATTEMPTS
            } else {
                CALIBRATION_ATTEMPTS
            };
            // Without agreement the last plausible round is used.
            let mut measured = 0;
            let mut previous: Option<u64> = None;
            for _ in 0..attempts {
                let hz = pit_median_hz(CALIBRATION_WINDOWS)
                    .unwrap_or_else(|| fail("tsc calibration", "PIT channel 2 never counted down"));
                if !time::PLAUSIBLE_HZ.contains(&hz) {
                    if previous.is_none() {
                        measured = hz;
                    }
                    continue;
                }
                measured = hz;
                let agrees = previous
                    .is_some_and(|p| hz.abs_diff(p) * 1_000_000 <= p * CALIBRATION_AGREEMENT_PPM);
                if !emulated || agrees {
                    break;
                }
                previous = Some(hz);
            }
            (measured, TscSource::Pit)
        }
    };
    Clock::new(hz, base, source).unwrap_or_else(|| fail("implausible TSC frequency (Hz)", hz))
}

fn reserved_ranges(info: &BootInfo, loader_info: u64) -> [PhysRange; 3] {
    let (start, end) = (
        &raw const __kernel_start as u64,
        &raw const __kernel_end as u64,
    );
    let loader_block = match info.loader {
        // The multiboot2 block stays in use: the RSDP copy lives inside it.
        Loader::Multiboot2 => {
            let total = IdentityMemory
                .read(loader_info, 4)
                .and_then(|b| b.try_into().ok())
                .map_or(0, |b: [u8; 4]| u32::from_le_bytes(b) as u64);
            PhysRange {
                start: loader_info,
                end: loader_info + total,
            }
        }
        Loader::Pvh => PhysRange { start: 0, end: 0 },
    };
    [
        // Real-mode IVT, BIOS data, the SMP trampoline and legacy ROMs.
        PhysRange {
            start: 0,
            end: 0x10_0000,
        },
        PhysRange { start, end },
        loader_block,
    ]
}

/// Brings the platform up and returns it. Called once from the entry code.
pub fn init(entry: u32, loader_info: u32) -> &'static Platform {
    let entry_tsc = cpu::rdtsc();
    crate::console::init();
    gdt::init_core(0);
    interrupts::init();
    // Before anything can decode FIX (its SOH scan is SSE2 assembly).
    cpu::enable_sse();

    let loader_info = loader_info as u64;
    let parsed = match entry {
        ENTRY_PVH => bootinfo::parse_pvh(&IdentityMemory, loader_info),
        ENTRY_MULTIBOOT2 => bootinfo::parse_multiboot2(&IdentityMemory, loader_info),
        other => fail("unknown boot protocol", other),
    };
    let info = parsed.unwrap_or_else(|e| fail("boot information", e));
    if info.regions.is_empty() {
        fail("boot information", "the loader gave no memory map");
    }

    let clock = calibrate_tsc();
    let wall = crate::arch::rtc::read_utc()
        .and_then(|t| t.unix_seconds())
        .map(|secs| time::WallClock::new(&clock, secs, cpu::rdtsc()));
    let mut frames = FrameAllocator::new(&info.regions, &reserved_ranges(&info, loader_info))
        .unwrap_or_else(|e| fail("frame allocator", e));

    // The appliance's own tables: all RAM and the low 4 GiB, largest pages.
    let pml4 = frames.allocate().unwrap_or_else(|e| fail("page tables", e));
    // SAFETY: a fresh frame inside the loader's identity map, zeroed before
    // use as a page table; nothing else refers to it.
    #[allow(unsafe_code)]
    let table = unsafe {
        let table = pml4 as *mut PageTable;
        table.write(PageTable::new());
        &mut *table
    };
    // SAFETY: identity mapping, offset 0.
    #[allow(unsafe_code)]
    let mut mapper = unsafe { OffsetPageTable::new(table, VirtAddr::new(0)) };
    let map_stats =
        paging::build_identity_map(&mut mapper, &mut frames, &info.regions, cpu::has_1g_pages())
            .unwrap_or_else(|e| fail("identity map", e));
    let (_, cr3_flags) = x86_64::registers::control::Cr3::read();
    // SAFETY: the new tables map the image, its stacks and all memory the
    // loader's tables mapped, at the same addresses, so execution continues.
    #[allow(unsafe_code)]
    unsafe {
        x86_64::registers::control::Cr3::write(
            PhysFrame::containing_address(PhysAddr::new(pml4)),
            cr3_flags,
        );
    }

    let acpi = discover_acpi(&info);
    let (pci, pci_stats, pci_via_ecam) = enumerate_pci(&acpi, &info, &mut mapper, &mut frames);
    let dma = reserve_dma(&info, &mut frames);
    reserve_heap(&info, &mut frames);

    let platform = Platform {
        info,
        clock,
        frames: SpinLock::new(frames),
        pml4_phys: SpinLock::new(pml4),
        map_stats,
        wall,
        acpi,
        pci,
        pci_stats,
        pci_via_ecam,
        dma: SpinLock::new(dma),
        entry_tsc,
        ready_tsc: core::sync::atomic::AtomicU64::new(0),
        smp: crate::sync::BootCell::new(),
        mailbox: crate::sync::BootCell::new(),
    };
    let platform = PLATFORM
        .init(platform)
        .unwrap_or_else(|| fail("platform", "initialised twice"));
    let report = crate::smp::start_application_processors(platform);
    let _ = platform.smp.init(report);
    let _ = platform.mailbox.init(crate::mailbox::init(platform));
    platform
        .ready_tsc
        .store(cpu::rdtsc(), core::sync::atomic::Ordering::Release);
    platform
}

/// The RSDP from the loader, else from the BIOS areas: the first KiB of the
/// EBDA and 0xE0000–0xFFFFF (ACPI 6.4 §5.2.5.1).
fn find_rsdp(info: &BootInfo) -> Option<u64> {
    if let Some(r) = info.rsdp {
        return Some(r.phys);
    }
    let ebda = IdentityMemory
        .read(0x40e, 2)
        .map_or(0, |b| (u16::from_le_bytes([b[0], b[1]]) as u64) << 4);
    let areas = [(ebda, 1024usize), (0xe_0000, 0x2_0000)];
    areas
        .iter()
        .filter(|(base, _)| *base != 0)
        .find_map(|&(base, len)| {
            let bytes = IdentityMemory.read(base, len)?;
            bootinfo::find_rsdp(bytes).map(|offset| base + offset as u64)
        })
}

fn discover_acpi(info: &BootInfo) -> AcpiInfo {
    let rsdp = find_rsdp(info)
        .unwrap_or_else(|| fail("acpi", "no RSDP from the loader or in the BIOS areas"));
    // SAFETY: the low 4 GiB are identity mapped and firmware tables are not
    // written while we read them.
    #[allow(unsafe_code)]
    let handler = unsafe { IdentityHandler::new(0x1000..paging::LOW_MMIO_LIMIT as usize) };
    acpi::parse(handler, rsdp).unwrap_or_else(|e| fail("acpi", e))
}

fn enumerate_pci(
    acpi: &AcpiInfo,
    info: &BootInfo,
    mapper: &mut OffsetPageTable<'_>,
    frames: &mut FrameAllocator,
) -> (Vec<Device, MAX_PCI_FUNCTIONS>, EnumerationStats, bool) {
    // Windows for BARs the firmware left at zero: the bottom of the 32-bit
    // hole (firmware allocates top-down below the I/O APIC) and, for 64-bit
    // BARs, QEMU's default 64-bit hole just above RAM.
    let ram_top = info.regions.iter().map(|r| r.end()).max().unwrap_or(0);
    let hole64 = ram_top
        .max(paging::LOW_MMIO_LIMIT)
        .div_ceil(paging::SIZE_1G)
        * paging::SIZE_1G;
    let mut windows = BarAllocator {
        mem32: 0xc000_0000..0xe000_0000,
        mem64: hole64..hole64 + (32 << 30),
        io: 0x1000..0xc000,
    };
    let mut devices = Vec::new();
    // SAFETY: the MCFG windows lie below 4 GiB, identity mapped uncached.
    #[allow(unsafe_code)]
    let ecam = unsafe { Ecam::new(&acpi.ecam) };
    let via_ecam = ecam.is_some();
    let stats = match ecam {
        Some(mut ecam) => pci::enumerate(&mut ecam, &mut windows, &mut devices),
        None => pci::enumerate(&mut PortIo, &mut windows, &mut devices),
    };
    for d in &devices {
        for bar in d
            .bars
            .iter()
            .filter(|b| b.kind == BarKind::Memory64 && b.address >= paging::LOW_MMIO_LIMIT)
        {
            // SAFETY: a device's BAR: MMIO nothing else maps.
            #[allow(unsafe_code)]
            let mapped = unsafe {
                paging::map_identity_range(
                    mapper,
                    frames,
                    bar.address,
                    bar.size,
                    paging::Caching::Uncached,
                )
            };
            if let Err(e) = mapped {
                fail("mapping a 64-bit BAR", (d.bdf, bar.index, e));
            }
        }
    }
    (devices, stats, via_ecam)
}

/// Default start-up heap when the command line names none.
/// A whole-market book takes ~25 MiB even with small order and level
/// capacities (per-locate side ends and status for all 65,536 locates,
/// ~15 MiB); the trading loop holds two (primary and away venue).
pub const DEFAULT_HEAP: u64 = 256 << 20;

fn reserve_heap(info: &BootInfo, frames: &mut FrameAllocator) {
    let budget = match info.value_of("heap") {
        Some(text) => dma::parse_size(text).unwrap_or_else(|| fail("heap= boot option", text)),
        None => DEFAULT_HEAP,
    };
    let len = budget.div_ceil(paging::SIZE_2M) * paging::SIZE_2M;
    let start = frames
        .allocate_contiguous(len, paging::SIZE_2M)
        .unwrap_or_else(|e| fail("heap budget does not fit in memory", (len, e)));
    // SAFETY: fresh identity-mapped RAM, owned by the heap from now on.
    #[allow(unsafe_code)]
    unsafe {
        crate::HEAP.init(start as usize, len as usize)
    };
}

fn reserve_dma(info: &BootInfo, frames: &mut FrameAllocator) -> DmaRegion {
    let budget = match info.value_of("dma") {
        Some(text) => dma::parse_size(text).unwrap_or_else(|| fail("dma= boot option", text)),
        None => dma::DEFAULT_BUDGET,
    };
    let len = budget.div_ceil(dma::REGION_ALIGN) * dma::REGION_ALIGN;
    let phys = frames
        .allocate_contiguous(len, dma::REGION_ALIGN)
        .unwrap_or_else(|e| fail("dma budget does not fit in memory", (len, e)));
    // SAFETY: freshly allocated, contiguous, identity mapped (virtual =
    // physical) write-back RAM owned by the region from now on.
    #[allow(unsafe_code)]
    unsafe {
        DmaRegion::new(
            NonNull::new(phys as *mut u8).unwrap_or_else(|| fail("dma", "null region")),
            phys,
            len as usize,
        )
    }
}

/// Prints the banner: loader, memory map, CPUs, clock, boot time.
pub fn print_banner(p: &'static Platform) {
    println!(
        "appliance {} boot={} cmdline=\"{}\"",
        env!("CARGO_PKG_VERSION"),
        p.info.loader.name(),
        p.info.cmdline
    );
    for r in &p.info.regions {
        println!(
            "memory: {:#014x}-{:#014x} {}",
            r.start,
            r.end(),
            r.kind.name()
        );
    }
    if p.info.regions_dropped > 0 {
        println!(
            "memory: {} map entries beyond the first {} ignored",
            p.info.regions_dropped,
            bootinfo::MAX_REGIONS
        );
    }
    let frames = p.frames.lock();
    println!(
        "memory: usable {} MiB, free {} MiB, identity map {} x 1 GiB + {} x 2 MiB pages, {} MiB uncached",
        p.info.usable_bytes() >> 20,
        frames.free_bytes() >> 20,
        p.map_stats.pages_1g,
        p.map_stats.pages_2m,
        p.map_stats.uncached_bytes >> 20
    );
    drop(frames);
    match p.info.rsdp {
        Some(rsdp) => println!("acpi: rsdp at {:#x}", rsdp.phys),
        None => println!("acpi: no rsdp from the loader"),
    }
    print!("acpi: cpus with apic ids");
    for c in p.acpi.enabled_cpus() {
        print!(" {}", c.apic_id);
    }
    println!(
        ", {} i/o apic(s), local apic {:#x}, {} ecam window(s)",
        p.acpi.io_apics.len(),
        p.acpi.local_apic_address,
        p.acpi.ecam.len()
    );
    println!(
        "cpus: {} (boot core apic id {})",
        p.acpi.enabled_cpus().count(),
        cpu::apic_id()
    );
    if let Some(r) = p.smp.get() {
        println!(
            "smp: {} application processor(s) online, {} failed, {} beyond the core limit",
            r.online, r.failed, r.skipped
        );
    }
    for (i, c) in crate::smp::CORES.iter().enumerate() {
        if c.state() == crate::smp::CoreState::Absent {
            continue;
        }
        println!(
            "core {i}: apic id {} role {} state {} (started in {} us)",
            c.apic_id(),
            c.role().name(),
            c.state().name(),
            p.clock.ticks_to_ns(c.startup_ticks()) / 1000
        );
    }
    println!(
        "pci: {} functions via {}, {} bridge(s), {} BAR(s) assigned, {} dropped, {} unassignable BAR(s)",
        p.pci_stats.functions,
        if p.pci_via_ecam { "ecam" } else { "ports 0xcf8/0xcfc" },
        p.pci_stats.bridges,
        p.pci.iter().map(|d| d.assigned_bars as u32).sum::<u32>(),
        p.pci_stats.dropped,
        p.pci_stats.unassignable_bars
    );
    for d in &p.pci {
        print!(
            "pci: {} {:04x}:{:04x} class {:02x}.{:02x}",
            d.bdf, d.vendor, d.device, d.class, d.subclass
        );
        for b in &d.bars {
            let kind = match b.kind {
                BarKind::Io => "io",
                BarKind::Memory32 => "mem32",
                BarKind::Memory64 => "mem64",
            };
            let pref = if b.prefetchable { ",pref" } else { "" };
            print!(
                " bar{}={kind}{pref}:{:#x}+{:#x}",
                b.index, b.address, b.size
            );
        }
        if let Some(m) = d.msix {
            print!(" msix={}@bar{}", m.table_size, m.table_bar);
        }
        println!();
    }
    let dma = p.dma.lock();
    println!(
        "dma: budget {} MiB at {:#x} (contiguous, 2 MiB aligned), {} bytes used",
        dma.budget() >> 20,
        dma.phys_base(),
        dma.used()
    );
    drop(dma);
    match p.mailbox.get() {
        Some(Ok((phys, len))) => println!(
            "mailbox: {} KiB at {phys:#x}, formatted for the companion",
            len >> 10
        ),
        Some(Err(e)) => println!("mailbox: none ({e:?})"),
        None => {}
    }
    println!(
        "heap: {} MiB start-up heap, {} bytes left",
        crate::HEAP.remaining() >> 20,
        crate::HEAP.remaining()
    );
    print!(
        "tsc: {} kHz (source {}",
        p.clock.hz() / 1000,
        p.clock.source().name()
    );
    if let Some((sig, _)) = cpu::hypervisor() {
        print!(
            ", hypervisor {}",
            core::str::from_utf8(&sig)
                .unwrap_or("?")
                .trim_end_matches('\0')
        );
    }
    println!(
        ", invariant {})",
        if cpu::invariant_tsc() { "yes" } else { "no" }
    );
    match p.wall {
        Some(_) => {
            let secs = p.utc_ns() / 1_000_000_000;
            let (days, rem) = (secs / 86_400, secs % 86_400);
            println!(
                "rtc: day {days} since 1970, {:02}:{:02}:{:02} UTC",
                rem / 3600,
                rem / 60 % 60,
                rem % 60
            );
        }
        None => println!("rtc: no plausible date in the CMOS clock; FIX SendingTime will be wrong"),
    }
    let ready = p.ready_tsc.load(core::sync::atomic::Ordering::Acquire);
    let since_entry = p.clock.ticks_to_ns(ready.saturating_sub(p.entry_tsc)) / 1000;
    let since_reset = p.clock.ticks_to_ns(ready) / 1000;
    println!("ready in {since_entry} us (entry to ready; {since_reset} us since cpu reset)");
}
