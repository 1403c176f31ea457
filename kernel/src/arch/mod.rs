//! Hardware access for x86_64. Compiled for the bare-metal target only.
pub mod backtrace;
pub mod cpu;
pub mod exit;
pub mod gdt;
pub mod interrupts;
pub mod lapic;
pub mod pci_access;
pub mod pit;
pub mod rtc;
pub mod serial;
pub mod trampoline;
