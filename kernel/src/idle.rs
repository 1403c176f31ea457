//! Idling the housekeeping core between its duties.
//!
//! Core 0 serves the mailbox every millisecond, drains the hot cores' logs
//! and supervises them; in between it has nothing to do. Spinning would cost
//! a host CPU under emulation (each vCPU is a host thread) and power on a
//! real host, so it sleeps in `hlt` until the local APIC timer's next tick.
//! Only core 0 ever enables interrupts, and only inside [`wait`]: `sti; hlt`
//! takes the tick, `cli` follows. Hot cores never take an interrupt.
#![allow(unsafe_code)]

use crate::arch::cpu;
use crate::arch::interrupts::{LAPIC_EOI_ADDRESS, TICKS, TICK_VECTOR};
use crate::arch::lapic::{LocalApic, EOI_OFFSET};
use crate::boot::Platform;
use core::sync::atomic::{AtomicBool, Ordering};
use x86_64::instructions::port::Port;

static STARTED: AtomicBool = AtomicBool::new(false);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleError {
    /// Only the housekeeping core idles.
    NotBootCore,
    /// The timer did not count during calibration.
    TimerDead,
}

/// Starts the local APIC timer on core 0 with a tick every `period_ns`.
/// Idempotent: later calls keep the first period.
pub fn start(p: &Platform, period_ns: u64) -> Result<(), IdleError> {
    if crate::smp::current_core().unwrap_or(0) != 0 {
        return Err(IdleError::NotBootCore);
    }
    if STARTED.load(Ordering::Acquire) {
        return Ok(());
    }
    mask_legacy_pics();
    // SAFETY: the MADT's local APIC address is identity mapped uncached
    // (checked by the paging self-test), and this is the boot core's APIC.
    let apic = unsafe { LocalApic::new(p.acpi.local_apic_address) };
    apic.enable();
    let window_ns = 1_000_000;
    let per_window = apic.measure_timer(|| {
        let end = cpu::rdtsc() + p.clock.ns_to_ticks(window_ns);
        while cpu::rdtsc() < end {
            core::hint::spin_loop();
        }
    });
    if per_window == 0 {
        return Err(IdleError::TimerDead);
    }
    let count = (per_window as u128 * period_ns as u128 / window_ns as u128)
        .clamp(1, u32::MAX as u128) as u32;
    LAPIC_EOI_ADDRESS.store(p.acpi.local_apic_address + EOI_OFFSET, Ordering::Release);
    apic.start_periodic_timer(TICK_VECTOR, count);
    STARTED.store(true, Ordering::Release);
    Ok(())
}

/// Sleeps until the next interrupt (the timer's tick at the latest); returns
/// at once if the timer was never started, so callers need no special case.
pub fn wait() {
    if !STARTED.load(Ordering::Acquire) || crate::smp::current_core().unwrap_or(0) != 0 {
        core::hint::spin_loop();
        return;
    }
    // `sti; hlt` in the interrupt shadow: no tick can slip in between and
    // leave the core halted for a whole period.
    x86_64::instructions::interrupts::enable_and_hlt();
    x86_64::instructions::interrupts::disable();
}

/// Ticks taken since boot.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// The 8259 PICs stay silent: the firmware may have left IRQ 0 (the PIT)
/// unmasked on vector 8, which would arrive as a double fault the moment
/// interrupts are enabled. OCW1 with every bit set masks all lines.
fn mask_legacy_pics() {
    // SAFETY: ports 0x21 and 0xA1 are the master and slave PICs' data
    // ports; masking lines has no other effect.
    unsafe {
        Port::<u8>::new(0x21).write(0xff);
        Port::<u8>::new(0xa1).write(0xff);
    }
}
