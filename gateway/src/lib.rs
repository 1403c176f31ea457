//! Order management, FIX session layer, smart order routing and TCP transport.
#![no_std]
#![deny(unsafe_code)]

// The OMS sizes its order table at construction (the only allocation).
extern crate alloc;

pub mod fixmap;
pub mod oms;
pub mod router;
pub mod session;
pub mod tcp;
pub mod venue;
