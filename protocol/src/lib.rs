//! Wire formats: Ethernet/IPv4/UDP, MoldUDP64, NASDAQ TotalView-ITCH 5.0, FIX 4.2/4.4 and the companion mailbox.
//!
//! Every parser here is a zero-copy view over caller bytes, checked once on
//! construction; every builder writes into a caller buffer. Nothing allocates,
//! and no input, however garbled, makes anything panic: bad bytes give an
//! error value or a counted drop.
#![no_std]
#![deny(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod ethernet;
pub mod filter;
pub mod fix;
pub mod ipv4;
pub mod itch;
pub mod mailbox;
pub mod moldudp64;
pub mod udp;
