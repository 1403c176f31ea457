//! Full-depth (L3) order book for the whole market, driven by ITCH 5.0.
#![no_std]
#![deny(unsafe_code)]
