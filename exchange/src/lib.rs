//! The simulated exchange the appliance trades against in the lab.
//!
//! One [`matching::Engine`] per symbol matches by price then time; its events
//! become ITCH 5.0 messages that [`feed::Publisher`] packs into MoldUDP64
//! packets (kept for retransmission) and Ethernet/IPv4/UDP frames for the A
//! and B lines. [`flow::Background`] plays the other market participants.
//! Everything is deterministic for a given seed so that scenarios replay.

pub mod feed;
pub mod flow;
pub mod matching;
pub mod server;
pub mod venue;
