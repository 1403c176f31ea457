//! Driver cycles per packet (RX + TX, forwarding the received buffers back
//! out) on the software 82599, at batch sizes 1, 8, 32, 64.
//!
//! Only driver code is timed: between batches, outside the timed region, the
//! bench plays the device synchronously — it writes the next batch of RX
//! descriptors in write-back format (DD|EOP, length) and marks every pending
//! TX descriptor done (DD). No model thread runs. The driver uses the
//! production register path (`Mmio`, volatile loads/stores on the fake BAR).
//!
//! Run: `cargo bench -p nic --features model --bench ixgbe`
//! (the peer comparison lives in `benches/nic-peer`, outside the workspace).

use nic::dma::HeapDma;
use nic::ixgbe::model::{Model, ModelConfig};
use nic::ixgbe::{Ixgbe, IxgbeConfig};
use nic::{Mempool, Nic, PacketBatch};

#[cfg(target_arch = "x86_64")]
fn cycles() -> u64 {
    // SAFETY: lfence/rdtsc have no memory effects; x86_64 always has them.
    unsafe {
        core::arch::x86_64::_mm_lfence();
        let t = core::arch::x86_64::_rdtsc();
        core::arch::x86_64::_mm_lfence();
        t
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn cycles() -> u64 {
    std::time::Instant::now().elapsed().as_nanos() as u64
}

const RING: u16 = 512;
const PACKETS_PER_RUN: u64 = 2_000_000;

fn timer_overhead() -> u64 {
    let mut best = u64::MAX;
    for _ in 0..10_000 {
        let t0 = cycles();
        let t1 = cycles();
        best = best.min(t1 - t0);
    }
    best
}

fn run<const B: usize>(overhead: u64) -> f64 {
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
        ring_size: RING,
        ..IxgbeConfig::default()
    };
    let mut dev =
        Ixgbe::init(model.mmio(), pool, &mut HeapDma::default(), &clock, &cfg).expect("init");
    let mut batch: PacketBatch<'static, B> = PacketBatch::new();
    let mut timed = 0u64;
    let mut packets = 0u64;
    let mut iters = 0u64;
    // Warm-up pass, then the measured one.
    for measured in [false, true] {
        timed = 0;
        packets = 0;
        iters = 0;
        while packets < PACKETS_PER_RUN / if measured { 1 } else { 10 } {
            model.complete_tx(0);
            model.prefill_rx(0, B as u32, 60);
            let t0 = cycles();
            let n = dev.rx_batch(0, &mut batch);
            let sent = dev.tx_batch(0, &mut batch);
            let t1 = cycles();
            assert_eq!((n, sent), (B, B), "bench lost packets");
            timed += t1 - t0;
            packets += n as u64;
            iters += 1;
        }
    }
    let s = dev.stats();
    assert_eq!(s.rx_packets, s.tx_packets);
    (timed.saturating_sub(overhead * iters)) as f64 / packets as f64
}

fn main() {
    let overhead = timer_overhead();
    println!("nic::ixgbe on the software 82599 (RX+TX forward, 60-byte frames, ring {RING})");
    println!("timer overhead {overhead} cycles per batch (subtracted)");
    for (b, c) in [
        (1, run::<1>(overhead)),
        (8, run::<8>(overhead)),
        (32, run::<32>(overhead)),
        (64, run::<64>(overhead)),
    ] {
        println!("batch {b:>2}: {c:>7.1} cycles/packet");
    }
}
