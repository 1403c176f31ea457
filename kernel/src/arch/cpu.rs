//! CPU identification and small privileged helpers.

use core::arch::x86_64::{__cpuid, __cpuid_count, _rdtsc, CpuidResult};

pub fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    if subleaf == 0 {
        __cpuid(leaf)
    } else {
        __cpuid_count(leaf, subleaf)
    }
}

/// Highest standard CPUID leaf.
pub fn max_leaf() -> u32 {
    cpuid(0, 0).eax
}

/// Time-stamp counter. Not serialising: callers measuring short intervals
/// fence around it themselves.
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC is allowed at CPL 0 and has no side effects.
    #[allow(unsafe_code)]
    unsafe {
        _rdtsc()
    }
}

/// The hypervisor's vendor signature and highest leaf, when running under one.
pub fn hypervisor() -> Option<([u8; 12], u32)> {
    if cpuid(1, 0).ecx & (1 << 31) == 0 {
        return None;
    }
    let r = cpuid(0x4000_0000, 0);
    let mut sig = [0u8; 12];
    sig[..4].copy_from_slice(&r.ebx.to_le_bytes());
    sig[4..8].copy_from_slice(&r.ecx.to_le_bytes());
    sig[8..].copy_from_slice(&r.edx.to_le_bytes());
    Some((sig, r.eax))
}

/// Whether the CPU can map 1 GiB pages (CPUID 0x8000_0001 EDX bit 26).
pub fn has_1g_pages() -> bool {
    cpuid(0x8000_0000, 0).eax >= 0x8000_0001 && cpuid(0x8000_0001, 0).edx & (1 << 26) != 0
}

/// Whether the TSC is invariant (CPUID 0x8000_0007 EDX bit 8).
pub fn invariant_tsc() -> bool {
    cpuid(0x8000_0000, 0).eax >= 0x8000_0007 && cpuid(0x8000_0007, 0).edx & (1 << 8) != 0
}

/// Local APIC id of the running core (CPUID 1 EBX[31:24]).
pub fn apic_id() -> u8 {
    (cpuid(1, 0).ebx >> 24) as u8
}

/// Logical processors the CPU reports for its package: CPUID 0xB (x2APIC
/// topology, package level) when present, else CPUID 1 EBX[23:16]. ACPI's
/// MADT is the authoritative list of cores; this is the early estimate.
pub fn logical_processors() -> u32 {
    if max_leaf() >= 0xB {
        let mut best = 0;
        for level in 0..8 {
            let r = cpuid(0xB, level);
            let kind = (r.ecx >> 8) & 0xff;
            if kind == 0 {
                break;
            }
            best = best.max(r.ebx & 0xffff);
        }
        if best != 0 {
            return best;
        }
    }
    ((cpuid(1, 0).ebx >> 16) & 0xff).max(1)
}

/// Stops this core for good.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Enables SSE/SSE2 use (CR0.MP set, CR0.EM clear, CR4.OSFXSR and
/// OSXMMEXCPT set). The 32-bit entry does this already; repeated for
/// application processors.
pub fn enable_sse() {
    use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
    // SAFETY: turning on SSE support changes no memory mapping and is what
    // the compiler's code for this target may rely on.
    #[allow(unsafe_code)]
    unsafe {
        Cr0::update(|f| {
            f.remove(Cr0Flags::EMULATE_COPROCESSOR);
            f.insert(Cr0Flags::MONITOR_COPROCESSOR);
        });
        Cr4::update(|f| f.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE));
    }
}
