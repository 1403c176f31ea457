//! Order management, FIX session layer, smart order routing and TCP transport.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

pub mod oms;
pub mod router;
