//! virtio-net, legacy PCI interface, in the ixy style.
//!
//! Why our own driver and not `virtio-drivers`: its raw net API moves one
//! packet per call and notifies the device for each, and QEMU turns every
//! notify (a port write) into a VM exit. Here a batch costs one index update
//! and at most one notify, skipped entirely while the device says it is
//! polling (`VRING_USED_F_NO_NOTIFY`). Buffers come from the same `Mempool`
//! as the ixgbe driver's, so the pipeline sees one `Nic` type of behaviour.
//!
//! References: Virtual I/O Device (VIRTIO) 1.0, §4.1.4.8 (legacy PCI
//! register layout), §2.4 (split virtqueues, legacy ring layout §2.4.2),
//! §5.1 (network device, header layout §5.1.6).
//!
//! Every packet is a two-descriptor chain: the 10-byte `virtio_net_hdr` in
//! its own slot of a header array, then the packet buffer. That keeps frames
//! at offset 0 of their buffers (zero copy to the parser) without a header
//! room in the pool; without `VIRTIO_NET_F_MRG_RXBUF` one receive buffer
//! holds one whole frame.
#![allow(unsafe_code)]

use crate::dma::{DmaAlloc, DmaError};
use crate::mempool::{Mempool, PacketBatch};
use crate::{LinkSpeed, LinkState, MacAddress, Nic, NicStats, QueueId};
use core::ptr::NonNull;
use core::sync::atomic::{fence, Ordering};

/// Legacy register offsets in BAR0's I/O space (§4.1.4.8).
mod reg {
    pub const DEVICE_FEATURES: u16 = 0x00;
    pub const GUEST_FEATURES: u16 = 0x04;
    pub const QUEUE_PFN: u16 = 0x08;
    pub const QUEUE_SIZE: u16 = 0x0c;
    pub const QUEUE_SELECT: u16 = 0x0e;
    pub const QUEUE_NOTIFY: u16 = 0x10;
    pub const DEVICE_STATUS: u16 = 0x12;
    /// Device-specific configuration when MSI-X is off (§4.1.4.8).
    pub const DEVICE_CONFIG: u16 = 0x14;
}

/// Device status bits (§2.1).
mod status {
    pub const ACKNOWLEDGE: u8 = 1;
    pub const DRIVER: u8 = 2;
    pub const DRIVER_OK: u8 = 4;
    pub const FAILED: u8 = 128;
}

/// Feature bits (§5.1.3).
mod feature {
    pub const MAC: u32 = 1 << 5;
    pub const STATUS: u32 = 1 << 16;
}

/// Descriptor flags (§2.4.5).
const VRING_DESC_F_NEXT: u16 = 1;
const VRING_DESC_F_WRITE: u16 = 2;
/// Used ring flag: the device does not need notifications (§2.4.7.2).
const VRING_USED_F_NO_NOTIFY: u16 = 1;
/// Legacy ring alignment (§2.4.2).
const VRING_ALIGN: usize = 4096;
/// `virtio_net_hdr` without `num_buffers` (§5.1.6).
const NET_HDR_LEN: usize = 10;
const RX_QUEUE: u16 = 0;
const TX_QUEUE: u16 = 1;
/// Net config status bit: link up (§5.1.4).
const NET_S_LINK_UP: u16 = 1;

/// Port I/O on the device's BAR0.
pub trait LegacyPorts {
    fn read8(&mut self, offset: u16) -> u8;
    fn read16(&mut self, offset: u16) -> u16;
    fn read32(&mut self, offset: u16) -> u32;
    fn write8(&mut self, offset: u16, value: u8);
    fn write16(&mut self, offset: u16, value: u16);
    fn write32(&mut self, offset: u16, value: u32);
}

/// x86 port I/O at a base port.
#[cfg(target_arch = "x86_64")]
pub struct PortIo {
    base: u16,
}

#[cfg(target_arch = "x86_64")]
impl PortIo {
    /// # Safety
    /// `base` must be the I/O BAR of a legacy virtio device that nothing else drives.
    pub unsafe fn new(base: u16) -> PortIo {
        PortIo { base }
    }
}

#[cfg(target_arch = "x86_64")]
impl LegacyPorts for PortIo {
    fn read8(&mut self, offset: u16) -> u8 {
        // SAFETY: `new`'s contract: these ports belong to our device.
        unsafe { x86_64::instructions::port::Port::new(self.base + offset).read() }
    }
    fn read16(&mut self, offset: u16) -> u16 {
        // SAFETY: as above.
        unsafe { x86_64::instructions::port::Port::new(self.base + offset).read() }
    }
    fn read32(&mut self, offset: u16) -> u32 {
        // SAFETY: as above.
        unsafe { x86_64::instructions::port::Port::new(self.base + offset).read() }
    }
    fn write8(&mut self, offset: u16, value: u8) {
        // SAFETY: as above.
        unsafe { x86_64::instructions::port::Port::new(self.base + offset).write(value) }
    }
    fn write16(&mut self, offset: u16, value: u16) {
        // SAFETY: as above.
        unsafe { x86_64::instructions::port::Port::new(self.base + offset).write(value) }
    }
    fn write32(&mut self, offset: u16, value: u32) {
        // SAFETY: as above.
        unsafe { x86_64::instructions::port::Port::new(self.base + offset).write(value) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VirtioError {
    /// The device reports a queue of size 0 (queue absent) or not a power of two.
    BadQueueSize {
        queue: u16,
        size: u16,
    },
    Dma(DmaError),
    /// The queue's ring lies above what a 32-bit PFN can address.
    RingNotAddressable,
    /// The pool's buffers are too small for a full frame plus nothing else.
    BufferTooSmall,
}

impl From<DmaError> for VirtioError {
    fn from(e: DmaError) -> Self {
        VirtioError::Dma(e)
    }
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Descriptor {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

/// One split virtqueue in the legacy layout, with per-slot bookkeeping.
struct Queue {
    size: u16,
    desc: NonNull<Descriptor>,
    /// Available ring: flags, idx, ring[size].
    avail: NonNull<u16>,
    /// Used ring: flags, idx, then `size` elements of {id: u32, len: u32}.
    used: NonNull<u16>,
    /// Per slot (pair of descriptors), the pool index it holds, or `u32::MAX`.
    slot_buf: &'static mut [u32],
    /// Free slots (stack).
    free: &'static mut [u16],
    free_top: usize,
    avail_idx: u16,
    last_used: u16,
}

impl Queue {
    /// Lays out descriptors, avail and used rings for `size` entries
    /// (§2.4.2: used ring on the next 4 KiB boundary), plus headers.
    fn new(
        dma: &mut dyn DmaAlloc,
        size: u16,
        headers_phys: u64,
        writable: bool,
    ) -> Result<(Queue, u64), VirtioError> {
        let n = size as usize;
        let desc_bytes = 16 * n;
        let avail_bytes = 2 * (3 + n);
        let used_offset = (desc_bytes + avail_bytes).next_multiple_of(VRING_ALIGN);
        let used_bytes = 2 * 3 + 8 * n;
        let total = used_offset + used_bytes.next_multiple_of(VRING_ALIGN);
        let ring = dma.alloc(total, VRING_ALIGN)?;
        if ring.phys >> 12 > u32::MAX as u64 {
            return Err(VirtioError::RingNotAddressable);
        }
        let slots = n / 2;
        let slot_buf = dma
            .alloc(4 * slots, 4)?
            .into_u32_slice()
            .ok_or(VirtioError::BufferTooSmall)?;
        slot_buf.fill(u32::MAX);
        let free_chunk = dma.alloc(2 * slots, 2)?;
        // SAFETY: a fresh, zeroed, exclusive, never-freed chunk of `2 * slots`
        // bytes, 2-byte aligned (DmaAlloc contract).
        let free = unsafe {
            core::slice::from_raw_parts_mut(free_chunk.virt.as_ptr().cast::<u16>(), slots)
        };
        for (i, f) in free.iter_mut().enumerate() {
            *f = (slots - 1 - i) as u16;
        }
        let base = ring.virt.as_ptr();
        // SAFETY: all three pointers are inside the `total` bytes allocated
        // above, aligned as the ring layout requires (4 KiB base).
        let (desc, avail, used) = unsafe {
            (
                NonNull::new_unchecked(base.cast::<Descriptor>()),
                NonNull::new_unchecked(base.add(desc_bytes).cast::<u16>()),
                NonNull::new_unchecked(base.add(used_offset).cast::<u16>()),
            )
        };
        let q = Queue {
            size,
            desc,
            avail,
            used,
            slot_buf,
            free,
            free_top: slots,
            avail_idx: 0,
            last_used: 0,
        };
        // Fixed part of every chain: header descriptor → buffer descriptor.
        for slot in 0..slots {
            let header = Descriptor {
                addr: headers_phys + (slot * NET_HDR_LEN) as u64,
                len: NET_HDR_LEN as u32,
                flags: VRING_DESC_F_NEXT | if writable { VRING_DESC_F_WRITE } else { 0 },
                next: (2 * slot + 1) as u16,
            };
            q.write_desc(2 * slot, header);
        }
        Ok((q, ring.phys))
    }

    fn write_desc(&self, index: usize, d: Descriptor) {
        debug_assert!(index < self.size as usize);
        // SAFETY: `index < size`: inside the descriptor table.
        unsafe { self.desc.as_ptr().add(index).write_volatile(d) }
    }

    fn used_idx(&self) -> u16 {
        // SAFETY: word 1 of the used ring; the device writes it, so volatile.
        unsafe { self.used.as_ptr().add(1).read_volatile() }
    }

    fn used_flags(&self) -> u16 {
        // SAFETY: word 0 of the used ring.
        unsafe { self.used.as_ptr().read_volatile() }
    }

    /// (descriptor head id, written length) of used element `n`.
    fn used_elem(&self, n: u16) -> (u32, u32) {
        let i = (n % self.size) as usize;
        // SAFETY: element i < size of the used ring, which starts 4 bytes in.
        unsafe {
            let elem = self.used.as_ptr().add(2).cast::<u32>().add(2 * i);
            (elem.read_volatile(), elem.add(1).read_volatile())
        }
    }

    /// Puts descriptor chain `head` in the next available slot (not yet visible).
    fn push_avail(&mut self, head: u16) {
        let i = (self.avail_idx % self.size) as usize;
        // SAFETY: ring entry i < size, after the 2-word avail header.
        unsafe { self.avail.as_ptr().add(2 + i).write_volatile(head) };
        self.avail_idx = self.avail_idx.wrapping_add(1);
    }

    /// Makes pushed entries visible to the device (§2.4.7.1: ring entries
    /// before the index, ordered by a release fence).
    fn publish(&mut self) {
        fence(Ordering::Release);
        // SAFETY: word 1 of the avail ring.
        unsafe { self.avail.as_ptr().add(1).write_volatile(self.avail_idx) };
        fence(Ordering::SeqCst);
    }
}

/// A legacy virtio-net device with one receive and one transmit queue.
pub struct VirtioNet<'p, P: LegacyPorts> {
    ports: P,
    pool: &'p Mempool,
    rx: Queue,
    tx: Queue,
    mac: MacAddress,
    has_status: bool,
    /// Last link state read from the device (refreshed by `stats` and
    /// `link_status`, which may do port I/O).
    link: LinkState,
    stats: NicStats,
    notifies: u64,
}

/// Bytes of DMA memory the headers of one queue need.
fn headers_len(size: u16) -> usize {
    (size as usize / 2) * NET_HDR_LEN
}

impl<'p, P: LegacyPorts> VirtioNet<'p, P> {
    /// Resets and initialises the device (§3.1.1, legacy variant) and fills
    /// the receive queue from `pool`.
    pub fn init(
        mut ports: P,
        pool: &'p Mempool,
        dma: &mut dyn DmaAlloc,
    ) -> Result<Self, VirtioError> {
        if pool.buf_size() < 1514 {
            return Err(VirtioError::BufferTooSmall);
        }
        // §3.1.1 steps 1–3: reset, acknowledge, driver.
        ports.write8(reg::DEVICE_STATUS, 0);
        ports.write8(reg::DEVICE_STATUS, status::ACKNOWLEDGE);
        ports.write8(reg::DEVICE_STATUS, status::ACKNOWLEDGE | status::DRIVER);
        // Step 4: only what we use. No checksum offload, no merged buffers,
        // no control queue: every frame is one buffer, checked by the parser.
        let offered = ports.read32(reg::DEVICE_FEATURES);
        let wanted = offered & (feature::MAC | feature::STATUS);
        ports.write32(reg::GUEST_FEATURES, wanted);
        let mut queues = [None, None];
        for (q, slot) in [RX_QUEUE, TX_QUEUE].into_iter().zip(queues.iter_mut()) {
            ports.write16(reg::QUEUE_SELECT, q);
            let size = ports.read16(reg::QUEUE_SIZE);
            if size < 2 || !size.is_power_of_two() {
                ports.write8(reg::DEVICE_STATUS, status::FAILED);
                return Err(VirtioError::BadQueueSize { queue: q, size });
            }
            let headers = dma.alloc(headers_len(size), 16)?;
            let (queue, ring_phys) = Queue::new(dma, size, headers.phys, q == RX_QUEUE)?;
            // §4.1.4.8: the queue's physical page number.
            ports.write32(reg::QUEUE_PFN, (ring_phys >> 12) as u32);
            *slot = Some(queue);
        }
        let (Some(rx), Some(tx)) = (queues[0].take(), queues[1].take()) else {
            return Err(VirtioError::BadQueueSize { queue: 0, size: 0 });
        };
        let mut mac = [0u8; 6];
        if wanted & feature::MAC != 0 {
            for (i, b) in mac.iter_mut().enumerate() {
                *b = ports.read8(reg::DEVICE_CONFIG + i as u16);
            }
        }
        let mut nic = VirtioNet {
            ports,
            pool,
            rx,
            tx,
            mac: MacAddress(mac),
            has_status: wanted & feature::STATUS != 0,
            link: LinkState::Up(LinkSpeed::Virtual),
            stats: NicStats::default(),
            notifies: 0,
        };
        nic.link_status();
        nic.refill_rx();
        nic.ports.write8(
            reg::DEVICE_STATUS,
            status::ACKNOWLEDGE | status::DRIVER | status::DRIVER_OK,
        );
        nic.notify(RX_QUEUE);
        Ok(nic)
    }

    fn notify(&mut self, queue: u16) {
        self.ports.write16(reg::QUEUE_NOTIFY, queue);
        self.notifies += 1;
    }

    /// Port writes to the notify register so far (one per batch at most).
    pub fn notifies(&self) -> u64 {
        self.notifies
    }

    /// Hands every free receive slot a buffer; one publish for all of them.
    fn refill_rx(&mut self) -> bool {
        let mut added = false;
        while self.rx.free_top > 0 {
            let Some(buf) = self.pool.alloc() else {
                self.stats.rx_no_buffer += 1;
                break;
            };
            self.rx.free_top -= 1;
            let slot = self.rx.free[self.rx.free_top] as usize;
            let (index, _) = buf.into_raw();
            self.rx.slot_buf[slot] = index;
            self.rx.write_desc(
                2 * slot + 1,
                Descriptor {
                    addr: self.pool.phys_of(index),
                    len: self.pool.buf_size() as u32,
                    flags: VRING_DESC_F_WRITE,
                    next: 0,
                },
            );
            self.rx.push_avail((2 * slot) as u16);
            added = true;
        }
        if added {
            self.rx.publish();
        }
        added
    }

    /// Takes back transmit slots the device has finished with.
    fn reclaim_tx(&mut self) {
        let used = self.tx.used_idx();
        fence(Ordering::Acquire);
        while self.tx.last_used != used {
            let (head, _) = self.tx.used_elem(self.tx.last_used);
            self.tx.last_used = self.tx.last_used.wrapping_add(1);
            let slot = (head / 2) as usize;
            let Some(index) = self
                .tx
                .slot_buf
                .get_mut(slot)
                .map(|s| core::mem::replace(s, u32::MAX))
            else {
                self.stats.tx_errors += 1;
                continue;
            };
            if index != u32::MAX {
                // SAFETY: the slot owned this index since `tx_batch` parked it.
                drop(unsafe { self.pool.buf_from_raw(index, 0) });
                self.tx.free[self.tx.free_top] = slot as u16;
                self.tx.free_top += 1;
            }
        }
    }
}

impl<'p, P: LegacyPorts> Nic<'p> for VirtioNet<'p, P> {
    fn rx_batch<const N: usize>(&mut self, queue: QueueId, out: &mut PacketBatch<'p, N>) -> usize {
        if queue != 0 {
            return 0;
        }
        let used = self.rx.used_idx();
        fence(Ordering::Acquire);
        let mut got = 0;
        while self.rx.last_used != used && !out.is_full() {
            let (head, written) = self.rx.used_elem(self.rx.last_used);
            self.rx.last_used = self.rx.last_used.wrapping_add(1);
            let slot = (head / 2) as usize;
            let Some(index) = self
                .rx
                .slot_buf
                .get_mut(slot)
                .map(|s| core::mem::replace(s, u32::MAX))
            else {
                self.stats.rx_errors += 1;
                continue;
            };
            if index == u32::MAX {
                self.stats.rx_errors += 1;
                continue;
            }
            self.rx.free[self.rx.free_top] = slot as u16;
            self.rx.free_top += 1;
            // The device counts the header it wrote into the first descriptor.
            let frame_len = (written as usize).saturating_sub(NET_HDR_LEN);
            // SAFETY: the slot owned `index` since `refill_rx` parked it.
            let mut buf = unsafe { self.pool.buf_from_raw(index, 0) };
            if frame_len == 0 || !buf.set_len(frame_len) {
                self.stats.rx_errors += 1;
                continue;
            }
            self.stats.rx_packets += 1;
            self.stats.rx_bytes += frame_len as u64;
            // `out` is not full (checked in the loop condition).
            let _ = out.push_back(buf);
            got += 1;
        }
        if got > 0 && self.refill_rx() && self.rx.used_flags() & VRING_USED_F_NO_NOTIFY == 0 {
            self.notify(RX_QUEUE);
        }
        got
    }

    fn tx_batch<const N: usize>(&mut self, queue: QueueId, pkts: &mut PacketBatch<'p, N>) -> usize {
        if queue != 0 {
            return 0;
        }
        self.reclaim_tx();
        let mut sent = 0;
        while let Some(buf) = pkts.pop_front() {
            if !core::ptr::eq(buf.pool(), self.pool) || buf.is_empty() {
                self.stats.tx_errors += 1;
                continue;
            }
            if self.tx.free_top == 0 {
                self.stats.tx_ring_full += 1;
                // Keep it for the caller's next try.
                let _ = pkts.push_front(buf);
                break;
            }
            self.tx.free_top -= 1;
            let slot = self.tx.free[self.tx.free_top] as usize;
            let len = buf.len();
            let (index, _) = buf.into_raw();
            self.tx.slot_buf[slot] = index;
            self.tx.write_desc(
                2 * slot + 1,
                Descriptor {
                    addr: self.pool.phys_of(index),
                    len: len as u32,
                    flags: 0,
                    next: 0,
                },
            );
            self.tx.push_avail((2 * slot) as u16);
            self.stats.tx_packets += 1;
            self.stats.tx_bytes += len as u64;
            sent += 1;
        }
        if sent > 0 {
            self.tx.publish();
            if self.tx.used_flags() & VRING_USED_F_NO_NOTIFY == 0 {
                self.notify(TX_QUEUE);
            }
        }
        sent
    }

    fn rx_queue_count(&self) -> u16 {
        1
    }

    fn tx_queue_count(&self) -> u16 {
        1
    }

    fn mac_address(&self) -> MacAddress {
        self.mac
    }

    fn link(&self) -> LinkState {
        self.link
    }

    fn stats(&mut self) -> NicStats {
        self.link_status();
        self.stats
    }

    fn pool(&self) -> &'p Mempool {
        self.pool
    }
}

impl<P: LegacyPorts> VirtioNet<'_, P> {
    /// Reads the link state from the device's status field (§5.1.4; without
    /// the status feature the link is always up).
    pub fn link_status(&mut self) -> LinkState {
        self.link =
            if !self.has_status || self.ports.read16(reg::DEVICE_CONFIG + 6) & NET_S_LINK_UP != 0 {
                LinkState::Up(LinkSpeed::Virtual)
            } else {
                LinkState::Down
            };
        self.link
    }
}
