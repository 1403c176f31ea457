//! nic::ixgbe vs ixgbe-driver 0.1.1, same run, same software 82599.
//!
//! Workload: forward 60-byte frames (receive a batch, transmit the same
//! buffers) on queue 0 of a 512-entry ring, batch sizes 1, 8, 32, 64.
//! Between batches, outside the timed region, the bench plays the device
//! synchronously: it writes the next batch of RX descriptors in write-back
//! format (DD|EOP, length) and marks every pending TX descriptor done. Only
//! driver code runs in the timed region, for both drivers alike.
//!
//! ixgbe-driver's API: `receive_packets(queue, n, closure)` hands out one
//! buffer per call of the closure, `send(queue, buf)` queues one packet and
//! writes TDT, `recycle_tx_buffers(queue)` reclaims transmitted buffers. Its
//! forwarding loop is therefore: recycle, receive into a Vec, send each.
//! Its init waits (1 s after reset, 10 s before link) go through the HAL's
//! `wait_until`, which returns at once here; the model answers on its own
//! thread during init and is stopped before measuring.

use std::alloc::Layout;
use std::ptr::NonNull;
use std::time::Duration;

use ixgbe_driver::{IxgbeDevice, IxgbeHal, IxgbeNetBuf, MemPool, NicDevice, PhysAddr};
use nic::dma::HeapDma;
use nic::ixgbe::model::{Model, ModelConfig};
use nic::ixgbe::{Ixgbe, IxgbeConfig, BAR_SIZE};
use nic::{Mempool, Nic, PacketBatch};

const RING: usize = 512;
/// Packets per batch size and driver; `NIC_PEER_PACKETS` overrides it (a
/// smaller count for `valgrind --tool=callgrind`, whose inclusive
/// instruction counts of `ours_step`/`peer_step` give instructions/packet).
fn packets_per_run() -> u64 {
    std::env::var("NIC_PEER_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000)
}
/// A batch slower than this was preempted by the OS (shared 2-core VM).
const PREEMPTED: u64 = 50_000;

fn cycles() -> u64 {
    // SAFETY: lfence/rdtsc have no memory effects; x86_64 always has them.
    unsafe {
        core::arch::x86_64::_mm_lfence();
        let t = core::arch::x86_64::_rdtsc();
        core::arch::x86_64::_mm_lfence();
        t
    }
}

fn timer_overhead() -> u64 {
    (0..10_000)
        .map(|_| {
            let t0 = cycles();
            cycles() - t0
        })
        .min()
        .unwrap_or(0)
}

/// (mean cycles/packet over non-preempted batches, preempted, batches)
fn summarize(samples: &[u64], batch: usize) -> (f64, usize, usize) {
    let kept: Vec<u64> = samples.iter().copied().filter(|&c| c < PREEMPTED).collect();
    let mean = kept.iter().sum::<u64>() as f64 / (kept.len() * batch) as f64;
    (mean, samples.len() - kept.len(), samples.len())
}

fn measure(
    batch: usize,
    overhead: u64,
    model: &Model,
    mut step: impl FnMut() -> usize,
) -> (f64, usize, usize) {
    let iters = (packets_per_run() / batch as u64) as usize;
    let mut samples = Vec::with_capacity(iters);
    for measured in [false, true] {
        samples.clear();
        for _ in 0..if measured { iters } else { iters / 10 } {
            model.complete_tx(0);
            model.prefill_rx(0, batch as u32, 60);
            let t0 = cycles();
            let forwarded = step();
            let t1 = cycles();
            assert_eq!(forwarded, batch, "bench lost packets");
            samples.push((t1 - t0).saturating_sub(overhead));
        }
    }
    summarize(&samples, batch)
}

fn run_nic<const B: usize>(overhead: u64) -> (f64, usize, usize) {
    let model = Model::new(ModelConfig::default());
    model.set_record_tx(false);
    let pool: &'static Mempool = Box::leak(Box::new(
        Mempool::new(&mut HeapDma::default(), RING as u32 * 3, 2048).expect("pool"),
    ));
    let t = std::cell::Cell::new(0u64);
    let clock = || {
        model.step();
        t.set(t.get() + 1_000);
        t.get()
    };
    let cfg = IxgbeConfig {
        ring_size: RING as u16,
        ..IxgbeConfig::default()
    };
    let mut dev =
        Ixgbe::init(model.mmio(), pool, &mut HeapDma::default(), &clock, &cfg).expect("init");
    let mut batch: PacketBatch<'static, B> = PacketBatch::new();
    measure(B, overhead, &model, || ours_step(&mut dev, &mut batch))
}

/// One forwarding step of ours: receive a batch, transmit it.
#[inline(never)]
fn ours_step<const B: usize>(
    dev: &mut Ixgbe<'static>,
    batch: &mut PacketBatch<'static, B>,
) -> usize {
    let n = dev.rx_batch(0, batch);
    let sent = dev.tx_batch(0, batch);
    debug_assert_eq!(n, sent);
    sent
}

/// DMA from the host heap, phys == virt (what the model expects); no sleeps.
struct PeerHal;

// SAFETY: allocations are page aligned, zeroed and leaked (never reused);
// addresses are identity mapped as the model requires.
unsafe impl IxgbeHal for PeerHal {
    fn dma_alloc(size: usize) -> (PhysAddr, NonNull<u8>) {
        let layout = Layout::from_size_align(size.max(4096), 4096).expect("layout");
        // SAFETY: non-zero size.
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        let p = NonNull::new(p).expect("out of memory");
        (p.as_ptr() as usize, p)
    }
    unsafe fn dma_dealloc(_paddr: PhysAddr, _vaddr: NonNull<u8>, _size: usize) -> i32 {
        0
    }
    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as *mut u8).expect("null BAR")
    }
    unsafe fn mmio_virt_to_phys(vaddr: NonNull<u8>, _size: usize) -> PhysAddr {
        vaddr.as_ptr() as usize
    }
    fn wait_until(_duration: Duration) -> Result<(), &'static str> {
        Ok(())
    }
}

fn run_peer<const B: usize>(overhead: u64) -> (f64, usize, usize) {
    let model = Model::new(ModelConfig::default());
    model.set_record_tx(false);
    let pool = MemPool::allocate::<PeerHal>(RING * 3, 2048).expect("peer pool");
    let mut dev = {
        let _device_thread = model.spawn();
        IxgbeDevice::<PeerHal, RING>::init(model.bar_ptr().as_ptr() as usize, BAR_SIZE, 1, 1, &pool)
            .expect("peer init")
    };
    let mut bufs: Vec<IxgbeNetBuf> = Vec::with_capacity(B);
    measure(B, overhead, &model, || peer_step::<B>(&mut dev, &mut bufs))
}

/// One forwarding step of `ixgbe-driver`: recycle, receive, send each.
#[inline(never)]
fn peer_step<const B: usize>(
    dev: &mut IxgbeDevice<PeerHal, RING>,
    bufs: &mut Vec<IxgbeNetBuf>,
) -> usize {
    let _ = dev.recycle_tx_buffers(0);
    let n = dev.receive_packets(0, B, |b| bufs.push(b)).unwrap_or(0);
    for b in bufs.drain(..) {
        dev.send(0, b).expect("peer send");
    }
    n
}

fn main() {
    let overhead = timer_overhead();
    println!("RX+TX forward, 60-byte frames, ring {RING}, software 82599; timer overhead {overhead} cycles/batch subtracted");
    println!("cycles/packet (mean over non-preempted batches)");
    println!(
        "{:>5} | {:>14} | {:>14}",
        "batch", "nic::ixgbe", "ixgbe-driver"
    );
    // `NIC_PEER_BATCH=32` runs one row (for instruction counts).
    let only: Option<usize> = std::env::var("NIC_PEER_BATCH")
        .ok()
        .and_then(|v| v.parse().ok());
    macro_rules! row {
        ($b:literal) => {{
            if only.is_some_and(|b| b != $b) {
                return;
            }
            let ours = run_nic::<$b>(overhead);
            let peer = run_peer::<$b>(overhead);
            println!(
                "{:>5} | {:>14.1} | {:>14.1}   (preempted batches excluded: {}/{} and {}/{})",
                $b, ours.0, peer.0, ours.1, ours.2, peer.1, peer.2
            );
        }};
    }
    (|| row!(1))();
    (|| row!(8))();
    (|| row!(32))();
    (|| row!(64))();
}
