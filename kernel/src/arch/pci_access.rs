//! Configuration-space access on the machine: ECAM or legacy ports.

use crate::acpi::EcamRegion;
use crate::pci::{ecam_address, port_address, Bdf, ConfigSpace};
use core::ptr::NonNull;
use heapless::Vec;
use volatile::VolatilePtr;
use x86_64::instructions::port::Port;

/// PCI Express enhanced configuration access through the MCFG windows.
pub struct Ecam {
    regions: Vec<EcamRegion, { crate::acpi::MAX_ECAM_REGIONS }>,
}

impl Ecam {
    /// # Safety
    /// Each region must be an ECAM window from the firmware, identity mapped
    /// uncached.
    #[allow(unsafe_code)]
    pub unsafe fn new(regions: &[EcamRegion]) -> Option<Ecam> {
        let regions: Vec<_, { crate::acpi::MAX_ECAM_REGIONS }> =
            regions.iter().copied().filter(|r| r.segment == 0).collect();
        (!regions.is_empty()).then_some(Ecam { regions })
    }

    fn register(&self, bdf: Bdf, offset: u16) -> Option<VolatilePtr<'static, u32>> {
        let r = self
            .regions
            .iter()
            .find(|r| (r.bus_start..=r.bus_end).contains(&bdf.bus))?;
        let addr = ecam_address(r.base, r.bus_start, bdf, offset);
        // SAFETY: inside an ECAM window (`new`'s contract), 4-byte aligned.
        #[allow(unsafe_code)]
        Some(unsafe { VolatilePtr::new(NonNull::new(addr as *mut u32)?) })
    }
}

impl ConfigSpace for Ecam {
    fn read32(&mut self, bdf: Bdf, offset: u16) -> u32 {
        self.register(bdf, offset).map_or(0xffff_ffff, |r| r.read())
    }
    fn write32(&mut self, bdf: Bdf, offset: u16, value: u32) {
        if let Some(r) = self.register(bdf, offset) {
            r.write(value);
        }
    }
}

/// Configuration mechanism #1: address to 0xCF8, data at 0xCFC.
pub struct PortIo;

impl ConfigSpace for PortIo {
    fn read32(&mut self, bdf: Bdf, offset: u16) -> u32 {
        // SAFETY: 0xCF8/0xCFC are the PCI configuration ports of the PC
        // platform; only the housekeeping core uses them, during bring-up.
        #[allow(unsafe_code)]
        unsafe {
            Port::<u32>::new(0xcf8).write(port_address(bdf, offset));
            Port::<u32>::new(0xcfc).read()
        }
    }
    fn write32(&mut self, bdf: Bdf, offset: u16, value: u32) {
        // SAFETY: as above.
        #[allow(unsafe_code)]
        unsafe {
            Port::<u32>::new(0xcf8).write(port_address(bdf, offset));
            Port::<u32>::new(0xcfc).write(value);
        }
    }
}
