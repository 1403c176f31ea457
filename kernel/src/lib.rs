//! Platform: CPU, memory, paging, PCI, ACPI, SMP, TSC time, console and the mailbox device.
#![no_std]
#![deny(unsafe_code)]
