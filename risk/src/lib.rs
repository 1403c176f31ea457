//! Pre-trade risk checks and the kill switch.
#![no_std]
#![deny(unsafe_code)]
