//! Ending a run: QEMU's isa-debug-exit device, then halt.
//!
//! With `-device isa-debug-exit,iobase=0xf4,iosize=0x04`, writing `v` makes
//! QEMU exit with status `(v << 1) | 1`. On real hardware nothing answers
//! port 0xf4 and the core halts.

use x86_64::instructions::port::Port;

pub const DEBUG_EXIT_PORT: u16 = 0xf4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// QEMU exit status 33.
    Success = 0x10,
    /// QEMU exit status 35.
    Failure = 0x11,
}

pub fn exit(code: ExitCode) -> ! {
    // SAFETY: port 0xf4 is the debug-exit device in QEMU and unused on the
    // PC platform otherwise; writing it has no other effect.
    #[allow(unsafe_code)]
    unsafe {
        Port::<u32>::new(DEBUG_EXIT_PORT).write(code as u32);
    }
    super::cpu::halt_forever()
}
