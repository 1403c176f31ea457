//! Network interface cards for the appliance: one batched, zero-copy,
//! allocation-free interface ([`Nic`]) and the drivers behind it.
//!
//! The shape follows ixy: a driver is one file, packet buffers come from a
//! fixed [`Mempool`] in DMA memory, and every receive or transmit call moves a
//! *batch* of packets with exactly one tail-register write, so the cost of the
//! uncached MMIO write is shared by the whole batch.
//!
//! - [`dma`]: the platform hands the driver DMA memory through [`DmaAlloc`].
//! - [`mempool`]: fixed-size buffers, an O(1) free stack, RAII [`PacketBuf`].
//! - [`regs`]: register access ([`Registers`]); [`Mmio`] is the real BAR.
//! - [`ixgbe`]: the Intel 82599 (X520) driver; with the `model` feature (or in
//!   this crate's tests) also `ixgbe::model`, a software 82599 for host tests.
//!
//! Nothing allocates after start-up: rings, buffers and bookkeeping arrays are
//! carved out of [`DmaAlloc`] once, in the driver's constructor.
#![no_std]
#![deny(unsafe_code)]

#[cfg(any(test, feature = "model"))]
extern crate std;

pub mod batch;
pub mod dma;
pub mod ixgbe;
pub mod mempool;
pub mod regs;
pub mod virtio;

pub use dma::{DmaAlloc, DmaChunk, DmaError};
pub use mempool::{Mempool, PacketBatch, PacketBuf};
pub use regs::{Mmio, Registers};

/// Largest batch the drivers are tuned for (ixy uses 32–64).
pub const MAX_BATCH: usize = 64;

/// A 48-bit Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MacAddress(pub [u8; 6]);

impl MacAddress {
    pub const BROADCAST: MacAddress = MacAddress([0xff; 6]);

    /// The Ethernet group address an IPv4 multicast group maps to
    /// (RFC 1112 §6.4: 01:00:5e plus the low 23 bits of the group).
    pub fn ipv4_multicast(group: [u8; 4]) -> MacAddress {
        MacAddress([0x01, 0x00, 0x5e, group[1] & 0x7f, group[2], group[3]])
    }

    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

/// Negotiated link speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkSpeed {
    Mbps100,
    Gbps1,
    Gbps10,
    /// A paravirtual link (virtio) has no physical speed.
    Virtual,
}

/// Link state as the device reports it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Down,
    Up(LinkSpeed),
}

impl LinkState {
    pub fn is_up(&self) -> bool {
        matches!(self, LinkState::Up(_))
    }
}

/// Index of a receive or transmit queue (each owned by one core).
pub type QueueId = u16;

/// Counters of one NIC, accumulated over its life.
///
/// `rx_*`/`tx_*` count what the driver handed to and took from software;
/// `hw_*` are the device's own statistics registers, read and accumulated
/// (they clear on read on the 82599), so both sides can be cross-checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NicStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Frames the device dropped because a queue had no free descriptor
    /// (ring full), plus frames it missed for lack of packet-buffer space.
    pub rx_dropped: u64,
    /// Frames that spanned more than one descriptor (no EOP on the first):
    /// dropped by the driver, counted once per frame.
    pub rx_fragmented_dropped: u64,
    /// Receive errors the device counted (CRC, length), plus descriptors
    /// the device wrote back with an impossible length (0 or over the buffer).
    pub rx_errors: u64,
    /// The mempool was empty when a receive descriptor needed a new buffer;
    /// the frame stays in the ring until the next batch.
    pub rx_no_buffer: u64,
    /// `tx_batch` calls that found the transmit ring full before the batch
    /// was all sent.
    pub tx_ring_full: u64,
    /// Packets refused at transmit (buffer from another pool, empty, or
    /// longer than one descriptor carries); they are dropped.
    pub tx_errors: u64,
    pub hw_rx_packets: u64,
    pub hw_rx_bytes: u64,
    pub hw_tx_packets: u64,
    pub hw_tx_bytes: u64,
}

/// A batched, zero-copy network interface (ixy style).
///
/// `rx_batch` appends up to the batch's free capacity of received frames and
/// returns how many; `tx_batch` takes packets from the front of the batch
/// until the ring is full and returns how many it queued. Unsent packets stay
/// in the batch (the caller decides whether to retry or drop them). Each call
/// writes the queue's tail register at most once.
pub trait Nic<'p> {
    fn rx_batch<const N: usize>(&mut self, queue: QueueId, out: &mut PacketBatch<'p, N>) -> usize;
    fn tx_batch<const N: usize>(&mut self, queue: QueueId, pkts: &mut PacketBatch<'p, N>) -> usize;
    fn rx_queue_count(&self) -> u16;
    fn tx_queue_count(&self) -> u16;
    fn mac_address(&self) -> MacAddress;
    fn link(&self) -> LinkState;
    /// Reads the device counters, accumulates them and returns the totals.
    fn stats(&mut self) -> NicStats;
    /// The pool transmit buffers must come from.
    fn pool(&self) -> &'p Mempool;
}

/// A monotonic nanosecond clock, used for every bounded wait at start-up.
pub trait Clock {
    fn now_ns(&self) -> u64;
}

impl<F: Fn() -> u64> Clock for F {
    fn now_ns(&self) -> u64 {
        self()
    }
}

/// Polls `done` until it returns true or `timeout_ns` passes on `clock`.
/// Returns whether `done` became true. Never spins without a bound.
pub fn wait_until(clock: &dyn Clock, timeout_ns: u64, mut done: impl FnMut() -> bool) -> bool {
    let start = clock.now_ns();
    loop {
        if done() {
            return true;
        }
        if clock.now_ns().saturating_sub(start) >= timeout_ns {
            return done();
        }
        core::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;

    #[test]
    fn ipv4_multicast_mac() {
        let m = MacAddress::ipv4_multicast([233, 200, 79, 128]);
        assert_eq!(m.0, [0x01, 0x00, 0x5e, 0x48, 79, 128]);
        assert!(m.is_multicast());
        assert!(!MacAddress([0, 1, 2, 3, 4, 5]).is_multicast());
    }

    #[test]
    fn wait_until_is_bounded() {
        let t = Cell::new(0u64);
        let clock = || {
            t.set(t.get() + 10);
            t.get()
        };
        assert!(!wait_until(&clock, 1_000, || false));
        assert!(t.get() >= 1_000 && t.get() < 1_100);
        let mut n = 0;
        assert!(wait_until(&clock, 1_000, || {
            n += 1;
            n == 3
        }));
    }
}
