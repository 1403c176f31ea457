//! ACPI: the CPUs (MADT) and PCI configuration regions (MCFG).
//!
//! Table parsing and validation (signatures, checksums) is the `acpi`
//! crate's; this module supplies identity "mapping" and keeps what the
//! platform needs in fixed-size lists. Pointers inside firmware tables are
//! not trusted: a table address outside readable memory reads as zeros,
//! which the crate then rejects as an invalid table instead of faulting.
#![allow(unsafe_code)]

use acpi::madt::{Madt, MadtEntry};
use acpi::mcfg::Mcfg;
use acpi::{AcpiHandler, AcpiTables, PhysicalMapping};
use core::ops::Range;
use core::ptr::NonNull;
use heapless::Vec;

pub const MAX_CPUS: usize = 64;
pub const MAX_IO_APICS: usize = 8;
pub const MAX_ECAM_REGIONS: usize = 8;

/// A processor listed in the MADT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpu {
    pub processor_uid: u32,
    pub apic_id: u32,
    /// Enabled now (flag bit 0); disabled entries that are online-capable
    /// (bit 1) could be hot-added and are listed but not started.
    pub enabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoApic {
    pub id: u8,
    pub address: u32,
    pub gsi_base: u32,
}

/// A PCI Express enhanced configuration (ECAM) window from the MCFG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EcamRegion {
    pub segment: u16,
    pub bus_start: u8,
    pub bus_end: u8,
    pub base: u64,
}

/// What the platform takes from ACPI.
#[derive(Debug, Clone, Default)]
pub struct AcpiInfo {
    pub cpus: Vec<Cpu, MAX_CPUS>,
    pub io_apics: Vec<IoApic, MAX_IO_APICS>,
    pub local_apic_address: u64,
    /// Empty when there is no MCFG (then PCI uses ports 0xCF8/0xCFC).
    pub ecam: Vec<EcamRegion, MAX_ECAM_REGIONS>,
    /// MADT entries that did not fit the fixed lists.
    pub dropped_entries: usize,
}

impl AcpiInfo {
    pub fn enabled_cpus(&self) -> impl Iterator<Item = &Cpu> {
        self.cpus.iter().filter(|c| c.enabled)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcpiError {
    /// The RSDP address is outside readable memory.
    RsdpUnreadable(u64),
    /// The RSDP failed validation (signature, checksum, OEM id).
    InvalidRsdp,
    /// A table failed validation (signature, checksum, OEM or table id).
    InvalidTable([u8; 4]),
    /// The MADT's entries are malformed.
    InvalidMadt,
    /// Any other complaint of the parser.
    Other,
    /// No valid MADT (absent, or skipped by the parser because its
    /// checksum or header is wrong): the processors cannot be enumerated.
    NoMadt,
    /// The MADT lists no enabled processor.
    NoCpus,
}

impl From<acpi::AcpiError> for AcpiError {
    fn from(e: acpi::AcpiError) -> Self {
        use acpi::AcpiError as E;
        let name = |s: acpi::sdt::Signature| {
            let mut out = [b'?'; 4];
            out.copy_from_slice(&s.as_str().as_bytes()[..4]);
            out
        };
        match e {
            E::TableMissing(acpi::sdt::Signature::MADT) => AcpiError::NoMadt,
            E::NoValidRsdp
            | E::RsdpIncorrectSignature
            | E::RsdpInvalidOemId
            | E::RsdpInvalidChecksum => AcpiError::InvalidRsdp,
            E::SdtInvalidSignature(s)
            | E::SdtInvalidOemId(s)
            | E::SdtInvalidTableId(s)
            | E::SdtInvalidChecksum(s)
            | E::TableMissing(s) => AcpiError::InvalidTable(name(s)),
            E::InvalidMadt(_) => AcpiError::InvalidMadt,
            _ => AcpiError::Other,
        }
    }
}

/// Zeros substituted for any table outside readable memory.
#[repr(align(4096))]
struct ZeroPage([u8; 4096]);
static ZERO_PAGE: ZeroPage = ZeroPage([0; 4096]);

/// "Maps" physical memory where physical = virtual, within `readable`.
#[derive(Debug, Clone)]
pub struct IdentityHandler {
    readable: Range<usize>,
}

impl IdentityHandler {
    /// # Safety
    /// Every address in `readable` must be mapped and readable for as long as
    /// the handler and its mappings live, and must not be written meanwhile.
    pub unsafe fn new(readable: Range<usize>) -> Self {
        IdentityHandler { readable }
    }

    fn covers(&self, start: usize, size: usize) -> bool {
        start
            .checked_add(size)
            .is_some_and(|end| self.readable.start <= start && end <= self.readable.end)
    }
}

impl AcpiHandler for IdentityHandler {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let (virt, size) = if self.covers(physical_address, size) && physical_address != 0 {
            (physical_address as *mut T, size)
        } else {
            (ZERO_PAGE.0.as_ptr() as *mut T, size.min(ZERO_PAGE.0.len()))
        };
        // SAFETY: `virt` is non-null (checked above, or the zero page); the
        // range is readable per `new`'s contract or is the zero page.
        unsafe {
            PhysicalMapping::new(
                physical_address,
                NonNull::new_unchecked(virt),
                size,
                size,
                self.clone(),
            )
        }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// Reads the MADT and MCFG reachable from the RSDP at `rsdp`.
pub fn parse(handler: IdentityHandler, rsdp: u64) -> Result<AcpiInfo, AcpiError> {
    let rsdp_addr = usize::try_from(rsdp).map_err(|_| AcpiError::RsdpUnreadable(rsdp))?;
    if !handler.covers(rsdp_addr, 36) {
        return Err(AcpiError::RsdpUnreadable(rsdp));
    }
    // SAFETY: the handler only yields readable memory or the zero page.
    let tables = unsafe { AcpiTables::from_rsdp(handler, rsdp_addr) }?;
    let mut info = AcpiInfo::default();

    let madt = tables.find_table::<Madt>()?;
    let madt = madt.get();
    info.local_apic_address = madt.local_apic_address as u64;
    for entry in madt.entries() {
        let pushed = match entry {
            MadtEntry::LocalApic(e) => info
                .cpus
                .push(Cpu {
                    processor_uid: e.processor_id as u32,
                    apic_id: e.apic_id as u32,
                    enabled: { e.flags } & 1 != 0,
                })
                .is_ok(),
            MadtEntry::LocalX2Apic(e) => info
                .cpus
                .push(Cpu {
                    processor_uid: e.processor_uid,
                    apic_id: e.x2apic_id,
                    enabled: { e.flags } & 1 != 0,
                })
                .is_ok(),
            MadtEntry::IoApic(e) => info
                .io_apics
                .push(IoApic {
                    id: e.io_apic_id,
                    address: e.io_apic_address,
                    gsi_base: e.global_system_interrupt_base,
                })
                .is_ok(),
            MadtEntry::LocalApicAddressOverride(e) => {
                info.local_apic_address = e.local_apic_address;
                true
            }
            _ => true,
        };
        if !pushed {
            info.dropped_entries += 1;
        }
    }
    if info.enabled_cpus().next().is_none() {
        return Err(AcpiError::NoCpus);
    }

    match tables.find_table::<Mcfg>() {
        Ok(mcfg) => {
            for e in mcfg.get().entries() {
                let region = EcamRegion {
                    segment: e.pci_segment_group,
                    bus_start: e.bus_number_start,
                    bus_end: e.bus_number_end,
                    base: e.base_address,
                };
                if info.ecam.push(region).is_err() {
                    info.dropped_entries += 1;
                }
            }
        }
        Err(acpi::AcpiError::TableMissing(_)) => {}
        Err(other) => return Err(other.into()),
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec as StdVec;

    /// Builds ACPI tables in one host buffer whose addresses stand in for
    /// physical ones (the handler is an identity map over the buffer).
    struct Firmware {
        buf: StdVec<u8>,
    }

    fn checksum(bytes: &[u8]) -> u8 {
        0u8.wrapping_sub(bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b)))
    }

    fn sdt(signature: &[u8; 4], revision: u8, body: &[u8]) -> StdVec<u8> {
        let mut t = StdVec::new();
        t.extend_from_slice(signature);
        t.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
        t.push(revision);
        t.push(0); // checksum, patched below
        t.extend_from_slice(b"BOCHS ");
        t.extend_from_slice(b"BXPC    ");
        t.extend_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(b"BXPC");
        t.extend_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(body);
        t[9] = checksum(&t);
        t
    }

    fn madt_body(cpus: &[(u8, u8, u32)]) -> StdVec<u8> {
        let mut b = StdVec::new();
        b.extend_from_slice(&0xfee0_0000u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes()); // PC-AT compatible
        for &(uid, apic, flags) in cpus {
            b.extend_from_slice(&[0, 8, uid, apic]);
            b.extend_from_slice(&flags.to_le_bytes());
        }
        b.extend_from_slice(&[1, 12, 0, 0]);
        b.extend_from_slice(&0xfec0_0000u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b
    }

    fn mcfg_body() -> StdVec<u8> {
        let mut b = std::vec![0u8; 8];
        b.extend_from_slice(&0xb000_0000u64.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&[0, 255]);
        b.extend_from_slice(&0u32.to_le_bytes());
        b
    }

    impl Firmware {
        /// RSDP (rev 2) at offset 0, XSDT at 64, then the given tables.
        fn new(tables: &[StdVec<u8>]) -> Firmware {
            let mut buf = std::vec![0u8; 64 * 1024];
            let base = buf.as_ptr() as u64;
            let mut offset = 256usize;
            let mut pointers = StdVec::new();
            for t in tables {
                buf[offset..offset + t.len()].copy_from_slice(t);
                pointers.push(base + offset as u64);
                offset += (t.len() + 15) & !15;
            }
            let xsdt_body: StdVec<u8> = pointers.iter().flat_map(|p| p.to_le_bytes()).collect();
            let xsdt = sdt(b"XSDT", 1, &xsdt_body);
            buf[64..64 + xsdt.len()].copy_from_slice(&xsdt);
            let mut rsdp = StdVec::new();
            rsdp.extend_from_slice(b"RSD PTR ");
            rsdp.push(0);
            rsdp.extend_from_slice(b"BOCHS ");
            rsdp.push(2);
            rsdp.extend_from_slice(&0u32.to_le_bytes());
            rsdp.extend_from_slice(&36u32.to_le_bytes());
            rsdp.extend_from_slice(&(base + 64).to_le_bytes());
            rsdp.extend_from_slice(&[0, 0, 0, 0]);
            rsdp[8] = checksum(&rsdp[..20]);
            rsdp[32] = checksum(&rsdp[..36]);
            buf[..36].copy_from_slice(&rsdp);
            Firmware { buf }
        }
        fn rsdp(&self) -> u64 {
            self.buf.as_ptr() as u64
        }
        fn handler(&self) -> IdentityHandler {
            let start = self.buf.as_ptr() as usize;
            // SAFETY: the buffer outlives every parse in these tests.
            unsafe { IdentityHandler::new(start..start + self.buf.len()) }
        }
    }

    #[test]
    fn madt_and_mcfg_are_read() {
        let fw = Firmware::new(&[
            sdt(
                b"APIC",
                3,
                &madt_body(&[(0, 0, 1), (1, 1, 1), (2, 2, 1), (3, 3, 0)]),
            ),
            sdt(b"MCFG", 1, &mcfg_body()),
        ]);
        let info = parse(fw.handler(), fw.rsdp()).unwrap();
        assert_eq!(info.cpus.len(), 4);
        assert_eq!(info.enabled_cpus().count(), 3);
        assert_eq!(
            info.cpus[2],
            Cpu {
                processor_uid: 2,
                apic_id: 2,
                enabled: true
            }
        );
        assert_eq!(info.local_apic_address, 0xfee0_0000);
        assert_eq!(
            info.io_apics[0],
            IoApic {
                id: 0,
                address: 0xfec0_0000,
                gsi_base: 0
            }
        );
        assert_eq!(
            info.ecam[0],
            EcamRegion {
                segment: 0,
                bus_start: 0,
                bus_end: 255,
                base: 0xb000_0000
            }
        );
    }

    #[test]
    fn no_mcfg_means_port_io() {
        let fw = Firmware::new(&[sdt(b"APIC", 3, &madt_body(&[(0, 0, 1)]))]);
        let info = parse(fw.handler(), fw.rsdp()).unwrap();
        assert!(info.ecam.is_empty());
    }

    #[test]
    fn missing_madt_and_no_enabled_cpu_are_errors() {
        let fw = Firmware::new(&[sdt(b"MCFG", 1, &mcfg_body())]);
        assert_eq!(
            parse(fw.handler(), fw.rsdp()).unwrap_err(),
            AcpiError::NoMadt
        );
        let fw = Firmware::new(&[sdt(b"APIC", 3, &madt_body(&[(0, 0, 0)]))]);
        assert_eq!(
            parse(fw.handler(), fw.rsdp()).unwrap_err(),
            AcpiError::NoCpus
        );
    }

    #[test]
    fn corrupt_tables_are_rejected() {
        let mut fw = Firmware::new(&[sdt(b"APIC", 3, &madt_body(&[(0, 0, 1)]))]);
        fw.buf[8] ^= 0xff; // RSDP checksum
        assert_eq!(
            parse(fw.handler(), fw.rsdp()).unwrap_err(),
            AcpiError::InvalidRsdp
        );

        let mut fw = Firmware::new(&[sdt(b"APIC", 3, &madt_body(&[(0, 0, 1)]))]);
        fw.buf[256 + 40] ^= 0x01; // a byte inside the MADT
        assert_eq!(
            parse(fw.handler(), fw.rsdp()).unwrap_err(),
            AcpiError::NoMadt
        );

        let fw = Firmware::new(&[]);
        let beyond = fw.rsdp() + 70_000;
        assert_eq!(
            parse(fw.handler(), beyond).unwrap_err(),
            AcpiError::RsdpUnreadable(beyond)
        );
    }

    #[test]
    fn table_pointer_outside_memory_is_an_error_not_a_fault() {
        let mut fw = Firmware::new(&[sdt(b"APIC", 3, &madt_body(&[(0, 0, 1)]))]);
        // Point the XSDT's only entry far outside the buffer, fix the checksum.
        fw.buf[64 + 36..64 + 44].copy_from_slice(&0x7777_0000_0000u64.to_le_bytes());
        fw.buf[64 + 9] = 0;
        let sum = checksum(&fw.buf[64..64 + 44]);
        fw.buf[64 + 9] = sum;
        assert!(parse(fw.handler(), fw.rsdp()).is_err());
    }
}
