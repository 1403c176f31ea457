//! Frame-pointer backtraces (the image is built with frame pointers forced on).

use core::fmt::Write;

const MAX_FRAMES: usize = 24;
/// Frames outside the identity-mapped low 4 GiB cannot be read safely.
const READABLE: core::ops::Range<u64> = 0x1000..(4 << 30);

/// Follows the `rbp` chain starting at `rbp`, printing return addresses
/// numbered from `first_index`. Stops at a null, misaligned, unreadable or
/// non-increasing frame pointer, so a corrupt stack ends the trace instead of
/// faulting again.
pub fn write_from(out: &mut impl Write, mut rbp: u64, first_index: usize) {
    for index in first_index..first_index + MAX_FRAMES {
        if !rbp.is_multiple_of(8) || !READABLE.contains(&rbp) || !READABLE.contains(&(rbp + 16)) {
            return;
        }
        // SAFETY: `rbp` and `rbp + 8` are aligned and inside the identity
        // map, so reading them cannot fault; a wrong chain only prints junk.
        #[allow(unsafe_code)]
        let (next, ret) = unsafe { (*(rbp as *const u64), *((rbp + 8) as *const u64)) };
        if ret == 0 {
            return;
        }
        let _ = writeln!(out, "  #{index} {ret:#018x}");
        if next <= rbp {
            return;
        }
        rbp = next;
    }
}

/// The caller's frame pointer.
#[inline(always)]
pub fn current_rbp() -> u64 {
    let rbp: u64;
    // SAFETY: reads a register.
    #[allow(unsafe_code)]
    unsafe {
        core::arch::asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack, preserves_flags))
    };
    rbp
}
