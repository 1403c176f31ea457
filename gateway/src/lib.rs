//! Order management, FIX session layer, smart order routing and TCP transport.
#![no_std]
#![deny(unsafe_code)]

pub mod session;
pub mod tcp;
