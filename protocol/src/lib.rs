//! Wire formats: Ethernet/IPv4/UDP, MoldUDP64, NASDAQ TotalView-ITCH 5.0, FIX 4.2/4.4 and the companion mailbox.
#![no_std]
#![deny(unsafe_code)]

pub mod mailbox;
