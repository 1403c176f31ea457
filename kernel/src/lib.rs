//! Platform: CPU, memory, paging, time and console for the appliance image.
//!
//! Logic that needs no hardware (boot-information parsing, the frame
//! allocator, page-table construction, clock arithmetic) is plain `no_std`
//! code tested on the host. Hardware access lives in `arch` and the modules
//! built on it, compiled only for the bare-metal target.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

pub mod acpi;
pub mod bootinfo;
pub mod corelink;
pub mod dma;
pub mod heap;
pub mod latest;
pub mod memory;
pub mod pci;
pub mod sync;
pub mod time;

#[cfg(target_os = "none")]
pub mod arch;
#[cfg(target_os = "none")]
pub mod boot;
#[cfg(target_os = "none")]
pub mod console;
#[cfg(target_os = "none")]
pub mod idle;
#[cfg(target_os = "none")]
pub mod log;
#[cfg(target_os = "none")]
pub mod mailbox;
#[cfg(target_os = "none")]
mod panic;

/// The image's allocator: the start-up heap (see [`heap`]).
#[cfg(target_os = "none")]
#[global_allocator]
pub static HEAP: heap::BumpHeap = heap::BumpHeap::new();
#[cfg(target_os = "none")]
pub mod selftest;
#[cfg(target_os = "none")]
pub mod smp;
