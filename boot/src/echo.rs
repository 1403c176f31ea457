//! `echo` mode: the NIC path end to end through virtio-net.
//!
//! Frames addressed to our MAC go back with source and destination swapped,
//! byte for byte otherwise; broadcast, multicast and frames for other MACs
//! are counted and dropped. A frame of EtherType 0x88B5 (local experimental)
//! to our MAC whose payload starts with `STOP` makes the appliance print its
//! counters and end the run: the host side knows what it sent and checks
//! both the echoes and the counters.

use core::ptr::NonNull;
use kernel::arch::exit::{exit, ExitCode};
use kernel::boot::Platform;
use kernel::dma::DmaRegion;
use kernel::println;
use kernel::sync::SpinLock;
use nic::mempool::{Mempool, PacketBatch};
use nic::virtio::{PortIo, VirtioNet};
use nic::{DmaAlloc, DmaChunk, DmaError, Nic};

/// The kernel's boot-time DMA region as the NIC drivers' memory source.
pub struct KernelDma<'a>(pub &'a SpinLock<DmaRegion>);

// SAFETY: `DmaRegion::allocate` hands out zeroed, aligned, disjoint pieces of
// one physically contiguous, identity-mapped region that is never freed, and
// reports their physical address: exactly the `DmaAlloc` contract.
#[allow(unsafe_code)]
unsafe impl DmaAlloc for KernelDma<'_> {
    fn alloc(&mut self, len: usize, align: usize) -> Result<DmaChunk, DmaError> {
        let buf = self.0.lock().allocate(len, align).map_err(|e| match e {
            kernel::dma::DmaError::BudgetExceeded { requested, .. } => {
                DmaError::OutOfMemory { requested }
            }
            kernel::dma::DmaError::BadRequest => DmaError::BadRequest,
        })?;
        let virt = NonNull::new(buf.as_ptr()).ok_or(DmaError::BadRequest)?;
        Ok(DmaChunk {
            virt,
            phys: buf.phys(),
            len: buf.len(),
        })
    }
}

const CONTROL_ETHERTYPE: [u8; 2] = [0x88, 0xb5];
const BATCH: usize = 32;

#[derive(Default)]
struct Counters {
    echoed: u64,
    broadcast: u64,
    multicast: u64,
    other_mac: u64,
    runt: u64,
    /// Echoes dropped because the transmit ring stayed full.
    tx_dropped: u64,
}

/// The first legacy virtio-net function, driven with buffers from `pool`;
/// its PCI address comes back for the banner.
pub fn open_virtio_net<'p>(
    platform: &'static Platform,
    pool: &'p Mempool,
    dma: &mut KernelDma<'_>,
) -> Result<(VirtioNet<'p, PortIo>, kernel::pci::Bdf), &'static str> {
    let dev = platform
        .pci
        .iter()
        .find(|d| d.vendor == 0x1af4 && d.device == 0x1000)
        .ok_or("no virtio-net (1af4:1000) device")?;
    start_virtio_net(dev, pool, dma).map(|n| (n, dev.bdf))
}

/// The legacy virtio-net function in slot `device` of bus 0 (the lab puts
/// the feed NIC and the order NIC in fixed slots).
pub fn open_virtio_net_at<'p>(
    platform: &'static Platform,
    device: u8,
    pool: &'p Mempool,
    dma: &mut KernelDma<'_>,
) -> Result<VirtioNet<'p, PortIo>, &'static str> {
    let dev = platform
        .pci
        .iter()
        .find(|d| {
            d.vendor == 0x1af4 && d.device == 0x1000 && d.bdf.bus == 0 && d.bdf.device == device
        })
        .ok_or("no virtio-net in the expected PCI slot")?;
    start_virtio_net(dev, pool, dma)
}

fn start_virtio_net<'p>(
    dev: &kernel::pci::Device,
    pool: &'p Mempool,
    dma: &mut KernelDma<'_>,
) -> Result<VirtioNet<'p, PortIo>, &'static str> {
    let io = dev
        .bar(0)
        .filter(|b| b.kind == kernel::pci::BarKind::Io)
        .ok_or("virtio-net has no I/O BAR0 (legacy interface off?)")?;
    // SAFETY: BAR0 of this virtio-net function is an I/O range only this
    // driver uses.
    #[allow(unsafe_code)]
    let ports = unsafe { PortIo::new(io.address as u16) };
    VirtioNet::init(ports, pool, dma).map_err(|_| "virtio-net initialisation failed")
}

pub fn run(platform: &'static Platform) -> ! {
    let mut dma = KernelDma(&platform.dma);
    let pool = match Mempool::new(&mut dma, 1024, 2048) {
        Ok(p) => p,
        Err(e) => {
            println!("echo: packet pool: {e:?}");
            exit(ExitCode::Failure);
        }
    };
    // `run` never returns, so the pool lives as long as the driver needs it.
    let pool = &pool;
    let (mut net, bdf) = match open_virtio_net(platform, pool, &mut dma) {
        Ok(n) => n,
        Err(e) => {
            println!("echo: {e}");
            exit(ExitCode::Failure);
        }
    };
    let mac = net.mac_address().0;
    println!(
        "echo: virtio-net {} mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} link {:?}, pool {} x {} bytes",
        bdf, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], net.link_status(), pool.capacity(), pool.buf_size()
    );
    // Start-up is over: from here on nothing may allocate.
    kernel::HEAP.seal();
    println!("echo: ready");
    let mut c = Counters::default();
    let mut rx: PacketBatch<'_, BATCH> = PacketBatch::new();
    let mut tx: PacketBatch<'_, BATCH> = PacketBatch::new();
    loop {
        if net.rx_batch(0, &mut rx) == 0 {
            core::hint::spin_loop();
            continue;
        }
        while let Some(mut frame) = rx.pop_front() {
            let data = frame.data_mut();
            if data.len() < 14 {
                c.runt += 1;
                continue;
            }
            if data[..6] != mac {
                if data[..6] == [0xff; 6] {
                    c.broadcast += 1;
                } else if data[0] & 1 == 1 {
                    c.multicast += 1;
                } else {
                    c.other_mac += 1;
                }
                continue;
            }
            if data[12..14] == CONTROL_ETHERTYPE && data[14..].starts_with(b"STOP") {
                // Let queued echoes leave before reporting.
                while !tx.is_empty() {
                    net.tx_batch(0, &mut tx);
                }
                report(&mut net, &c);
                exit(ExitCode::Success);
            }
            let (dst, src) = data.split_at_mut(6);
            dst.swap_with_slice(&mut src[..6]);
            c.echoed += 1;
            // `tx` has room: it is drained after every rx batch of ≤ BATCH.
            let _ = tx.push_back(frame);
        }
        net.tx_batch(0, &mut tx);
        // Whatever the ring could not take is dropped and counted: an echo
        // server must not stall its receive side behind a full transmit ring.
        c.tx_dropped += tx.len() as u64;
        tx.clear();
    }
}

fn report(net: &mut VirtioNet<'_, PortIo>, c: &Counters) {
    let s = net.stats();
    println!(
        "echo: rx {} tx {} echoed {} tx-dropped {} broadcast {} multicast {} other-mac {} runt {} rx-errors {} rx-no-buffer {} tx-ring-full {} tx-errors {} notifies {}",
        s.rx_packets,
        s.tx_packets,
        c.echoed,
        c.tx_dropped,
        c.broadcast,
        c.multicast,
        c.other_mac,
        c.runt,
        s.rx_errors,
        s.rx_no_buffer,
        s.tx_ring_full,
        s.tx_errors,
        net.notifies()
    );
}
