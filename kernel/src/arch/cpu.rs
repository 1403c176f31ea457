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

/// Enables SSE/SSE2 on this core: CR0.EM clear (no x87/SSE emulation
/// trap), CR0.MP set (WAIT/FWAIT honour CR0.TS), CR4.OSFXSR set (the OS
/// supports FXSAVE/FXRSTOR; without it SSE instructions raise #UD) and
/// CR4.OSXMMEXCPT set (unmasked SIMD floating-point exceptions raise #XM,
/// vector 19, instead of #UD). Intel SDM Vol. 3A §13.1.3 "Initialization
/// of the SSE Extensions" and §9.6 "Initializing SSE/SSE2/SSE3/SSSE3
/// Extensions"; the bits are in §2.5 "Control Registers".
///
/// The 32-bit entry (`boot/src/entry.rs`, the boot core) and the AP
/// trampoline (`trampoline.rs`) already set these bits with the others of
/// CR0 and CR4; this is called again from Rust on every core before it
/// runs anything else ([`crate::boot::init`] on the boot core,
/// `smp::ap_entry` on the others), so that a change of the assembly cannot
/// silently leave SSE off.
///
/// Who needs it: the image is compiled for `x86_64-unknown-none`, which is
/// soft-float: the compiler never allocates an xmm register. The only SSE
/// code is the FIX decoder's SOH scan (`protocol`, `fix/decode/sse2.rs`,
/// `cfg(fix_scan = "asm")`), an `asm!` block that saves and restores the
/// three xmm registers it uses. Without SSE enabled it would raise #UD on
/// every FIX message, so this must run on every core that may decode FIX
/// (the hot core and, with one CPU, core 0) before any decode.
///
/// Why no xmm state is saved on interrupts or exceptions: nothing else in
/// the image touches an xmm register. The exception stubs and the timer
/// stub (`interrupts.rs`) save general-purpose registers only and call
/// soft-float Rust; nothing in the image uses `target_feature(enable =
/// "sse...")` (checked: `objdump -d` of the appliance names xmm registers
/// only in the three places the scan's `asm!` is inlined), and the kernel
/// never switches one core between threads (a core runs the one loop
/// `smp::run_on` gave it). A handler that runs inside the scan's `asm!`
/// block therefore leaves xmm0..xmm2 as it found them. Code that starts
/// using SSE elsewhere (compiler-generated or not) must revisit this.
pub fn enable_sse() {
    use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
    // SAFETY: CR0.EM/MP and CR4.OSFXSR/OSXMMEXCPT only govern how x87,
    // MMX and SSE instructions execute (SDM Vol. 3A §2.5); the update
    // keeps every other bit (paging, protection, PAE) as it is, so no
    // memory mapping or privilege changes. It runs at CPL 0, where moves
    // to control registers are allowed.
    #[allow(unsafe_code)]
    unsafe {
        Cr0::update(|f| {
            f.remove(Cr0Flags::EMULATE_COPROCESSOR);
            f.insert(Cr0Flags::MONITOR_COPROCESSOR);
        });
        Cr4::update(|f| f.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE));
    }
}
