//! Driver against the software 82599 ([`model`](super::model)).

use std::cell::Cell;
use std::time::{Duration, Instant};
use std::vec::Vec;

use super::model::{toeplitz, Model, ModelConfig, ModelRegs};
use super::*;
use crate::dma::HeapDma;
use crate::mempool::PacketBatch;
use proptest::prelude::*;

const OWN_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30];
const FEED_PORT: u16 = 26400;
const ORDER_PORT: u16 = 9878;

fn leak_pool(count: u32) -> &'static Mempool {
    std::boxed::Box::leak(std::boxed::Box::new(
        Mempool::new(&mut HeapDma::default(), count, 2048).unwrap(),
    ))
}

/// A clock that runs the model once per reading and advances 1 µs: start-up
/// is deterministic and instant, and every wait is still bounded.
fn stepping_clock(model: &Model) -> impl Fn() -> u64 + '_ {
    let t = Cell::new(0u64);
    move || {
        model.step();
        t.set(t.get() + 1_000);
        t.get()
    }
}

fn real_clock() -> impl Fn() -> u64 {
    let start = Instant::now();
    move || start.elapsed().as_nanos() as u64
}

fn cfg(ring: u16, queues: u16) -> IxgbeConfig {
    IxgbeConfig {
        rx_queues: queues,
        tx_queues: queues,
        ring_size: ring,
        ..IxgbeConfig::default()
    }
}

fn rig(c: &IxgbeConfig) -> (Model, Ixgbe<'static, ModelRegs>) {
    let model = Model::new(ModelConfig::default());
    let pool = leak_pool(c.ring_size as u32 * (c.rx_queues as u32 + 2));
    let dev = {
        let clock = stepping_clock(&model);
        Ixgbe::init(model.regs(), pool, &mut HeapDma::default(), &clock, c).unwrap()
    };
    (model, dev)
}

fn ipv4_frame(
    dst: [u8; 6],
    proto: u8,
    sport: u16,
    dport: u16,
    src_ip: [u8; 4],
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x99]);
    f.extend_from_slice(&[0x08, 0x00]);
    let l4_len = if proto == 6 { 20 } else { 8 };
    let total = (20 + l4_len + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
    f.extend_from_slice(&src_ip);
    f.extend_from_slice(&[10, 0, 0, 2]);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&vec_zero(l4_len - 4));
    f.extend_from_slice(payload);
    f
}

fn vec_zero(n: usize) -> Vec<u8> {
    std::vec![0; n]
}

fn udp(dport: u16, seq: u32) -> Vec<u8> {
    ipv4_frame(OWN_MAC, 17, 5000, dport, [10, 0, 0, 1], &seq.to_be_bytes())
}

fn tcp(dport: u16, seq: u32) -> Vec<u8> {
    ipv4_frame(OWN_MAC, 6, 40000, dport, [10, 0, 0, 1], &seq.to_be_bytes())
}

fn rx_all<const N: usize>(dev: &mut Ixgbe<'static, ModelRegs>, q: QueueId) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut batch: PacketBatch<'static, N> = PacketBatch::new();
    loop {
        let n = dev.rx_batch(q, &mut batch);
        if n == 0 {
            return got;
        }
        while let Some(p) = batch.pop_front() {
            got.push(p.data().to_vec());
        }
    }
}

#[test]
fn init_follows_the_datasheet_sequence() {
    let c = cfg(64, 2);
    let (model, dev) = rig(&c);
    assert_eq!(model.resets(), 1);
    assert_eq!(dev.mac_address(), MacAddress(OWN_MAC));
    assert_eq!(dev.link(), LinkState::Up(LinkSpeed::Gbps10));
    for q in 0..2 {
        assert_ne!(model.reg(reg::rxdctl(q)) & reg::RXDCTL_ENABLE, 0);
        assert_ne!(model.reg(reg::txdctl(q)) & reg::TXDCTL_ENABLE, 0);
        assert_eq!(
            model.reg(reg::rdt(q)),
            63,
            "all but one RX descriptor given to the device"
        );
        assert_eq!(model.reg(reg::rdlen(q)), 64 * 16);
        assert_eq!(model.reg(reg::tdlen(q)), 64 * 16);
        assert_ne!(model.reg(reg::rdbal(q)), 0);
        let srrctl = model.reg(reg::srrctl(q));
        assert_eq!(
            srrctl & reg::SRRCTL_DESCTYPE_MASK,
            reg::SRRCTL_DESCTYPE_ADV_ONEBUF
        );
        assert_ne!(srrctl & reg::SRRCTL_DROP_EN, 0);
        assert_eq!(srrctl & reg::SRRCTL_BSIZEPKT_MASK, 2);
        assert_eq!(model.reg(reg::dca_rxctrl(q)) & reg::DCA_RXCTRL_DESC_WRO, 0);
    }
    let fctrl = model.reg(reg::FCTRL);
    assert_ne!(fctrl & reg::FCTRL_BAM, 0);
    assert_eq!(fctrl & (reg::FCTRL_UPE | reg::FCTRL_MPE), 0);
    assert_ne!(model.reg(reg::HLREG0) & reg::HLREG0_RXCRCSTRP, 0);
    assert_ne!(model.reg(reg::HLREG0) & reg::HLREG0_TXCRCEN, 0);
    assert_ne!(model.reg(reg::RXCTRL) & reg::RXCTRL_RXEN, 0);
    assert_ne!(model.reg(reg::DMATXCTL) & reg::DMATXCTL_TE, 0);
    assert_eq!(model.reg(reg::MRQC), 0, "RSS off unless asked");
    assert_eq!(model.reg(reg::EIMS), 0, "no interrupts");
}

#[test]
fn bad_configs_are_refused() {
    let model = Model::new(ModelConfig::default());
    let pool = leak_pool(256);
    let clock = stepping_clock(&model);
    let mut dma = HeapDma::default();
    let try_cfg =
        |c: IxgbeConfig, dma: &mut HeapDma| Ixgbe::init(model.regs(), pool, dma, &clock, &c).err();
    assert!(matches!(
        try_cfg(cfg(100, 1), &mut dma),
        Some(InitError::BadConfig(_))
    ));
    assert!(matches!(
        try_cfg(cfg(4, 1), &mut dma),
        Some(InitError::BadConfig(_))
    ));
    assert!(matches!(
        try_cfg(cfg(64, 0), &mut dma),
        Some(InitError::BadConfig(_))
    ));
    assert!(matches!(
        try_cfg(cfg(64, 17), &mut dma),
        Some(InitError::BadConfig(_))
    ));
    assert!(matches!(
        try_cfg(cfg(256, 1), &mut dma),
        Some(InitError::PoolTooSmall {
            needed: 512,
            free: 256
        })
    ));
    let rss = IxgbeConfig {
        rss_queues: 3,
        ..cfg(64, 2)
    };
    assert!(matches!(
        try_cfg(rss, &mut dma),
        Some(InitError::BadConfig(_))
    ));
}

#[test]
fn init_against_model_thread_with_real_clock_and_mmio() {
    let model = Model::new(ModelConfig::default());
    let _thread = model.spawn();
    let pool = leak_pool(64 * 3);
    let clock = real_clock();
    let mut dev = Ixgbe::init(
        model.mmio(),
        pool,
        &mut HeapDma::default(),
        &clock,
        &cfg(64, 1),
    )
    .unwrap();
    assert!(dev.link().is_up());
    // Round trip on the production register path with the device on its own thread.
    let mut got = Vec::new();
    let mut injected = 0u32;
    let mut batch: PacketBatch<'static, 32> = PacketBatch::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < 200 && Instant::now() < deadline {
        // Keep at most 20 frames in flight: the ring holds 63.
        if injected as usize == got.len() && injected < 200 {
            for _ in 0..20 {
                model.inject(&udp(FEED_PORT, injected));
                injected += 1;
            }
        }
        dev.rx_batch(0, &mut batch);
        while let Some(p) = batch.pop_front() {
            got.push(p.data().to_vec());
            let mut out = pool.alloc().unwrap();
            assert!(out.fill(&got[got.len() - 1]));
            let mut tx: PacketBatch<'static, 1> = PacketBatch::new();
            tx.push_back(out).unwrap();
            while dev.tx_batch(0, &mut tx) == 0 {
                std::thread::yield_now();
            }
        }
    }
    assert_eq!(got.len(), 200);
    for (i, f) in got.iter().enumerate() {
        assert_eq!(f, &udp(FEED_PORT, i as u32));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut sent = Vec::new();
    while sent.len() < 200 && Instant::now() < deadline {
        sent.extend(model.take_transmitted());
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(sent.len(), 200);
    assert!(sent
        .iter()
        .enumerate()
        .all(|(i, (q, f))| *q == 0 && f == &udp(FEED_PORT, i as u32)));
}

#[test]
fn rx_tx_round_trip_zero_copy() {
    let (model, mut dev) = rig(&cfg(64, 1));
    let pool = dev.pool();
    let free0 = pool.free_count();
    for i in 0..10 {
        model.inject(&udp(FEED_PORT, i));
    }
    model.step();
    let mut batch: PacketBatch<'static, 32> = PacketBatch::new();
    assert_eq!(dev.rx_batch(0, &mut batch), 10);
    for (i, p) in batch.iter().enumerate() {
        assert_eq!(p.data(), &udp(FEED_PORT, i as u32)[..]);
    }
    // Received buffers were replaced in the ring by fresh ones.
    assert_eq!(pool.free_count(), free0 - 10);
    // Edit in place and send the same buffers back out.
    for p in batch.iter_mut() {
        p.data_mut()[0..6].copy_from_slice(&[0xaa; 6]);
    }
    assert_eq!(dev.tx_batch(0, &mut batch), 10);
    assert!(batch.is_empty());
    model.step();
    let sent = model.take_transmitted();
    assert_eq!(sent.len(), 10);
    for (i, (q, f)) in sent.iter().enumerate() {
        assert_eq!(*q, 0);
        assert_eq!(f[0..6], [0xaa; 6]);
        assert_eq!(f[6..], udp(FEED_PORT, i as u32)[6..]);
    }
    // TX buffers come back when their descriptors are reclaimed (lazily,
    // on a later tx_batch that needs the room).
    let mut more: PacketBatch<'static, 64> = PacketBatch::new();
    for _ in 0..60 {
        let mut b = pool.alloc().unwrap();
        assert!(b.fill(&[1u8; 60]));
        more.push_back(b).unwrap();
    }
    assert_eq!(
        dev.tx_batch(0, &mut more),
        60,
        "the 10 sent earlier were reclaimed to make room"
    );
    model.step();
    assert_eq!(model.take_transmitted().len(), 60);
    assert_eq!(pool.free_count(), free0 - 60);
    // A later batch that needs room reclaims all 60 (two DD checks).
    let mut one: PacketBatch<'static, 64> = PacketBatch::new();
    let mut b = pool.alloc().unwrap();
    assert!(b.fill(&[1u8; 60]));
    one.push_back(b).unwrap();
    assert_eq!(dev.tx_batch(0, &mut one), 1);
    assert_eq!(pool.free_count(), free0 - 1);
}

#[test]
fn thousands_of_frames_wrap_the_ring() {
    let (model, mut dev) = rig(&cfg(64, 1));
    let pool = dev.pool();
    let free0 = pool.free_count();
    let mut next_expected = 0u32;
    let mut sent_total = 0usize;
    let mut seq = 0u32;
    while seq < 5000 {
        for _ in 0..40 {
            model.inject(&udp(FEED_PORT, seq));
            seq += 1;
        }
        model.step();
        let mut batch: PacketBatch<'static, 64> = PacketBatch::new();
        let n = dev.rx_batch(0, &mut batch);
        assert_eq!(n, 40);
        for p in batch.iter() {
            assert_eq!(p.data(), &udp(FEED_PORT, next_expected)[..]);
            next_expected += 1;
        }
        sent_total += dev.tx_batch(0, &mut batch);
        assert!(batch.is_empty());
        model.step();
        for (_, f) in model.take_transmitted() {
            assert_eq!(f.len(), udp(FEED_PORT, 0).len());
        }
    }
    assert_eq!(next_expected, 5000);
    assert_eq!(sent_total, 5000);
    let s = dev.stats();
    assert_eq!((s.rx_packets, s.hw_rx_packets), (5000, 5000));
    assert_eq!((s.tx_packets, s.hw_tx_packets), (5000, 5000));
    assert_eq!(s.rx_dropped, 0);
    // No leak: only buffers still in the TX ring are missing from the pool.
    assert!(pool.free_count() + 64 >= free0);
}

#[test]
fn full_rx_ring_drops_and_counts_without_hanging() {
    let (model, mut dev) = rig(&cfg(64, 1));
    for i in 0..100 {
        model.inject(&udp(FEED_PORT, i));
    }
    model.step();
    assert_eq!(model.queue_counts(0).delivered, 63);
    assert_eq!(model.queue_counts(0).ring_full_drops, 37);
    let got = rx_all::<32>(&mut dev, 0);
    assert_eq!(got.len(), 63);
    assert_eq!(got[62], udp(FEED_PORT, 62));
    let s = dev.stats();
    assert_eq!(s.rx_dropped, 37);
    assert_eq!(s.rx_packets, 63);
    // The ring is usable again.
    model.inject(&udp(FEED_PORT, 1000));
    model.step();
    assert_eq!(rx_all::<32>(&mut dev, 0), [udp(FEED_PORT, 1000)]);
}

#[test]
fn frame_spanning_descriptors_is_dropped_and_counted() {
    let (model, mut dev) = rig(&cfg(64, 1));
    let pool = dev.pool();
    let free0 = pool.free_count();
    let big = ipv4_frame(OWN_MAC, 17, 1, FEED_PORT, [10, 0, 0, 1], &[7u8; 4500]);
    model.inject(&udp(FEED_PORT, 1));
    model.inject(&big); // 3 descriptors: no EOP, no EOP, EOP
    model.inject(&udp(FEED_PORT, 2));
    model.step();
    let got = rx_all::<8>(&mut dev, 0);
    assert_eq!(got, [udp(FEED_PORT, 1), udp(FEED_PORT, 2)]);
    let s = dev.stats();
    assert_eq!(s.rx_fragmented_dropped, 1);
    assert_eq!(s.rx_packets, 2);
    drop(got);
    // Fragment buffers were reused in place: only the two delivered frames'
    // replacements left the pool (and those frames were copied and dropped).
    assert_eq!(pool.free_count(), free0);
}

#[test]
fn descriptor_without_dd_is_not_consumed() {
    let (model, mut dev) = rig(&cfg(64, 1));
    let mut batch: PacketBatch<'static, 32> = PacketBatch::new();
    let before = model.rx_tail_writes(0);
    assert_eq!(dev.rx_batch(0, &mut batch), 0);
    assert_eq!(
        model.rx_tail_writes(0),
        before,
        "no tail write for an empty batch"
    );
    model.inject(&udp(FEED_PORT, 9));
    // Not stepped: the device has not written the descriptor back yet.
    assert_eq!(dev.rx_batch(0, &mut batch), 0);
    model.step();
    assert_eq!(dev.rx_batch(0, &mut batch), 1);
}

/// Writes receive descriptor `i` of queue 0 back as the device would
/// (§7.1.6.2): DD, EOP if `eop`, length `len`; the buffer is left as it is.
fn write_back(dev: &mut Ixgbe<'static, ModelRegs>, i: u32, eop: bool, len: u16) {
    let ring = dev.rx[0].ring.view();
    let eop = if eop { desc::RX_STATUS_EOP } else { 0 };
    ring.write(i, 0, 0);
    ring.write(
        i,
        1,
        desc::RX_STATUS_DD | eop | ((len as u64) << desc::RX_LEN_SHIFT),
    );
}

#[test]
fn a_frame_whose_later_parts_arrive_after_the_call_is_still_dropped_whole() {
    let (model, mut dev) = rig(&cfg(64, 1));
    let free0 = dev.pool().free_count();
    let mut batch: PacketBatch<'static, 8> = PacketBatch::new();
    // A frame, then the first two parts of a three-part frame.
    write_back(&mut dev, 0, true, 60);
    write_back(&mut dev, 1, false, 2048);
    write_back(&mut dev, 2, false, 2048);
    let tails = model.rx_tail_writes(0);
    assert_eq!(dev.rx_batch(0, &mut batch), 1);
    assert_eq!(model.rx_tail_writes(0), tails + 1);
    assert_eq!(dev.stats().rx_fragmented_dropped, 0, "counted at its EOP");
    // Its last part (EOP, a length one buffer holds) must not be
    // delivered as a frame of its own.
    write_back(&mut dev, 3, true, 100);
    write_back(&mut dev, 4, true, 61);
    assert_eq!(dev.rx_batch(0, &mut batch), 1);
    assert_eq!(batch.iter().map(|p| p.len()).collect::<Vec<_>>(), [60, 61]);
    assert_eq!(dev.stats().rx_fragmented_dropped, 1);
    assert_eq!(dev.stats().rx_packets, 2);
    assert_eq!(model.reg(reg::rdt(0)), 4, "five descriptors handed back");
    // Dropped parts kept their buffers; only the two frames took new ones.
    assert_eq!(dev.pool().free_count(), free0 - 2);
    batch.clear();
    assert_eq!(dev.pool().free_count(), free0);
    // A call that ends inside a frame (its last part not written back yet)
    // consumes the parts it saw and writes the tail.
    write_back(&mut dev, 5, false, 2048);
    assert_eq!(dev.rx_batch(0, &mut batch), 0);
    assert_eq!(model.reg(reg::rdt(0)), 5);
    write_back(&mut dev, 6, true, 60);
    assert_eq!(dev.rx_batch(0, &mut batch), 0);
    assert_eq!(dev.stats().rx_fragmented_dropped, 2);
    assert_eq!(model.reg(reg::rdt(0)), 6);
}

#[test]
fn an_empty_pool_leaves_frames_in_the_ring_until_buffers_return() {
    let (model, mut dev) = rig(&cfg(8, 1));
    let pool = dev.pool();
    let held: Vec<_> = core::iter::from_fn(|| pool.alloc()).collect();
    assert!(!held.is_empty());
    for i in 0..3 {
        model.inject(&udp(FEED_PORT, i));
    }
    model.step();
    let mut batch: PacketBatch<'static, 8> = PacketBatch::new();
    let tails = model.rx_tail_writes(0);
    assert_eq!(dev.rx_batch(0, &mut batch), 0);
    assert_eq!(model.rx_tail_writes(0), tails, "nothing consumed");
    assert_eq!(dev.stats().rx_no_buffer, 1);
    let mut held = held;
    drop(held.pop());
    assert_eq!(dev.rx_batch(0, &mut batch), 1);
    assert_eq!(dev.stats().rx_no_buffer, 2, "the second frame waits");
    assert_eq!(batch.pop_front().unwrap().data(), &udp(FEED_PORT, 0)[..]);
    drop(held);
    assert_eq!(
        rx_all::<8>(&mut dev, 0),
        [udp(FEED_PORT, 1), udp(FEED_PORT, 2)]
    );
    assert_eq!(dev.stats().rx_packets, 3);
}

#[test]
fn a_partly_drained_batch_is_filled_behind_its_packets() {
    let (model, mut dev) = rig(&cfg(64, 1));
    for i in 0..6 {
        model.inject(&udp(FEED_PORT, i));
    }
    model.step();
    let mut batch: PacketBatch<'static, 4> = PacketBatch::new();
    assert_eq!(dev.rx_batch(0, &mut batch), 4);
    assert_eq!(dev.rx_batch(0, &mut batch), 0, "full");
    assert_eq!(batch.pop_front().unwrap().data(), &udp(FEED_PORT, 0)[..]);
    assert_eq!(dev.rx_batch(0, &mut batch), 1);
    let got: Vec<_> = batch.iter().map(|p| p.data().to_vec()).collect();
    assert_eq!(got, (1..5).map(|i| udp(FEED_PORT, i)).collect::<Vec<_>>());
}

#[test]
fn refused_packets_take_no_descriptor() {
    let (model, mut dev) = rig(&cfg(8, 1));
    let other = leak_pool(4);
    let pool = dev.pool();
    let frame = |i: u32| {
        let mut b = pool.alloc().unwrap();
        assert!(b.fill(&udp(1, i)));
        b
    };
    let mut batch: PacketBatch<'static, 16> = PacketBatch::new();
    let mut foreign = other.alloc().unwrap();
    assert!(foreign.fill(&[1; 60]));
    batch.push_back(foreign).unwrap();
    for i in 0..3 {
        batch.push_back(frame(i)).unwrap();
    }
    batch.push_back(pool.alloc().unwrap()).unwrap(); // length 0
    for i in 3..7 {
        batch.push_back(frame(i)).unwrap();
    }
    batch.push_back(pool.alloc().unwrap()).unwrap(); // left: the ring is full
    batch.push_back(frame(7)).unwrap();
    // Seven descriptors free (one always stays with software).
    assert_eq!(dev.tx_batch(0, &mut batch), 7);
    let s = dev.stats();
    assert_eq!((s.tx_errors, s.tx_ring_full, s.tx_packets), (2, 1, 7));
    assert_eq!(batch.len(), 2);
    assert_eq!(other.free_count(), 4);
    model.step();
    let sent: Vec<_> = model
        .take_transmitted()
        .into_iter()
        .map(|(_, f)| f)
        .collect();
    assert_eq!(sent, (0..7).map(|i| udp(1, i)).collect::<Vec<_>>());
    // The unsent two go once the ring is reclaimed: the empty one is refused.
    assert_eq!(dev.tx_batch(0, &mut batch), 1);
    assert!(batch.is_empty());
    assert_eq!(dev.stats().tx_errors, 3);
    model.step();
    assert_eq!(model.take_transmitted(), [(0, udp(1, 7))]);
}

#[test]
fn impossible_lengths_from_the_device_are_counted_not_delivered() {
    let (model, mut dev) = rig(&cfg(64, 1));
    let free0 = dev.pool().free_count();
    assert_eq!(model.prefill_rx(0, 1, 0), 1);
    assert_eq!(model.prefill_rx(0, 1, 60_000), 1);
    model.inject(&udp(FEED_PORT, 3));
    model.step();
    assert_eq!(rx_all::<8>(&mut dev, 0), [udp(FEED_PORT, 3)]);
    assert_eq!(dev.stats().rx_errors, 2);
    assert_eq!(dev.pool().free_count(), free0);
}

#[test]
fn feed_and_order_flows_land_on_their_queues() {
    let (model, mut dev) = rig(&cfg(64, 3));
    assert_eq!(dev.steer_udp_port(FEED_PORT, 1), Ok(0));
    assert_eq!(dev.steer_tcp_port(ORDER_PORT, 2), Ok(1));
    assert_eq!(dev.steer_tcp_port(1, 3), Err(SteerError::NoSuchQueue(3)));
    model.inject(&udp(FEED_PORT, 1));
    model.inject(&tcp(ORDER_PORT, 2));
    model.inject(&udp(ORDER_PORT, 3)); // right port, wrong protocol
    model.inject(&tcp(FEED_PORT, 4)); // right port, wrong protocol
    model.inject(&udp(53, 5));
    let mut arp = std::vec![0xff; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    model.inject(&arp);
    model.step();
    assert_eq!(rx_all::<8>(&mut dev, 1), [udp(FEED_PORT, 1)]);
    assert_eq!(rx_all::<8>(&mut dev, 2), [tcp(ORDER_PORT, 2)]);
    assert_eq!(
        rx_all::<8>(&mut dev, 0),
        [udp(ORDER_PORT, 3), tcp(FEED_PORT, 4), udp(53, 5), arp]
    );
}

#[test]
fn toeplitz_known_answer() {
    // The RSS verification example: 66.9.149.187:2794 -> 161.142.100.80:1766.
    let key: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f,
        0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];
    let ips = [66, 9, 149, 187, 161, 142, 100, 80];
    assert_eq!(toeplitz(&key, &ips), 0x323e_8fc2);
    let mut with_ports = ips.to_vec();
    with_ports.extend_from_slice(&2794u16.to_be_bytes());
    with_ports.extend_from_slice(&1766u16.to_be_bytes());
    assert_eq!(toeplitz(&key, &with_ports), 0x51cc_c178);
}

#[test]
fn rss_spreads_unsteered_flows_by_reta_and_filters_win() {
    let c = IxgbeConfig {
        rss_queues: 4,
        ..cfg(64, 4)
    };
    let (model, mut dev) = rig(&c);
    dev.steer_udp_port(FEED_PORT, 3).unwrap();
    let key = c.rss_key;
    let mut expected: [Vec<Vec<u8>>; 4] = Default::default();
    for i in 0..40u16 {
        let f = ipv4_frame(OWN_MAC, 6, 1000 + i, 80, [10, 0, 1, i as u8], &[]);
        let mut input = std::vec![10, 0, 1, i as u8, 10, 0, 0, 2];
        input.extend_from_slice(&(1000 + i).to_be_bytes());
        input.extend_from_slice(&80u16.to_be_bytes());
        // Driver's RETA: entry k -> queue k % 4.
        let q = (toeplitz(&key, &input) & 0x7F) as usize % 4;
        expected[q].push(f.clone());
        model.inject(&f);
    }
    model.inject(&udp(FEED_PORT, 7));
    expected[3].push(udp(FEED_PORT, 7));
    model.step();
    let mut used = 0;
    for (q, exp) in expected.iter().enumerate() {
        let got = rx_all::<16>(&mut dev, q as u16);
        assert_eq!(&got, exp, "queue {q}");
        used += usize::from(!got.is_empty());
    }
    assert!(used >= 3, "40 flows should reach most of 4 queues");
    assert_eq!(model.reg(reg::MRQC) & 0xF, reg::MRQC_RSS_EN);
}

#[test]
fn l2_filter_multicast_groups_broadcast_promiscuous() {
    let (model, mut dev) = rig(&cfg(64, 1));
    let group_a = MacAddress::ipv4_multicast([233, 54, 12, 111]);
    let group_b = MacAddress::ipv4_multicast([233, 54, 12, 112]);
    assert_ne!(mta_hash(group_a), mta_hash(group_b));
    let to = |mac: [u8; 6]| ipv4_frame(mac, 17, 1, FEED_PORT, [10, 0, 0, 1], &[1]);
    dev.join_multicast(group_a);
    model.inject(&to(group_a.0));
    model.inject(&to(group_b.0));
    model.inject(&to([0xff; 6]));
    model.inject(&to([0x02, 9, 9, 9, 9, 9]));
    model.step();
    assert_eq!(rx_all::<8>(&mut dev, 0), [to(group_a.0), to([0xff; 6])]);
    assert_eq!(model.l2_filtered(), 2);
    dev.set_promiscuous(true);
    model.inject(&to(group_b.0));
    model.inject(&to([0x02, 9, 9, 9, 9, 9]));
    model.step();
    assert_eq!(rx_all::<8>(&mut dev, 0).len(), 2);
}

#[test]
fn tx_ring_full_keeps_unsent_packets_and_counts() {
    let (model, mut dev) = rig(&cfg(64, 1));
    let pool = dev.pool();
    let mut batch: PacketBatch<'static, 100> = PacketBatch::new();
    for i in 0..100u32 {
        let mut b = pool.alloc().unwrap();
        assert!(b.fill(&udp(1, i)));
        batch.push_back(b).unwrap();
    }
    assert_eq!(dev.tx_batch(0, &mut batch), 63);
    assert_eq!(batch.len(), 37);
    assert_eq!(
        dev.tx_batch(0, &mut batch),
        0,
        "device has not sent anything yet"
    );
    assert_eq!(dev.stats().tx_ring_full, 2);
    model.step();
    assert_eq!(dev.tx_batch(0, &mut batch), 37);
    model.step();
    let sent = model.take_transmitted();
    assert_eq!(sent.len(), 100);
    assert!(sent
        .iter()
        .enumerate()
        .all(|(i, (_, f))| f == &udp(1, i as u32)));
}

#[test]
fn foreign_and_empty_tx_buffers_are_refused() {
    let (model, mut dev) = rig(&cfg(64, 1));
    let other = leak_pool(4);
    let mut batch: PacketBatch<'static, 4> = PacketBatch::new();
    let mut foreign = other.alloc().unwrap();
    assert!(foreign.fill(&[1; 60]));
    batch.push_back(foreign).unwrap();
    batch.push_back(dev.pool().alloc().unwrap()).unwrap(); // length 0
    let mut good = dev.pool().alloc().unwrap();
    assert!(good.fill(&[2; 60]));
    batch.push_back(good).unwrap();
    assert_eq!(dev.tx_batch(0, &mut batch), 1);
    assert_eq!(dev.stats().tx_errors, 2);
    assert_eq!(
        other.free_count(),
        4,
        "refused buffer went back to its own pool"
    );
    model.step();
    assert_eq!(model.take_transmitted(), [(0, std::vec![2u8; 60])]);
}

#[test]
fn one_tail_write_per_batch() {
    let (model, mut dev) = rig(&cfg(512, 1));
    let rx0 = model.rx_tail_writes(0);
    let tx0 = model.tx_tail_writes(0);
    for batch_size in [1usize, 8, 32, 64] {
        for i in 0..batch_size {
            model.inject(&udp(FEED_PORT, i as u32));
        }
        model.step();
        let mut batch: PacketBatch<'static, 64> = PacketBatch::new();
        let before_rx = model.rx_tail_writes(0);
        assert_eq!(dev.rx_batch(0, &mut batch), batch_size);
        assert_eq!(
            model.rx_tail_writes(0) - before_rx,
            1,
            "RX batch {batch_size}"
        );
        let before_tx = model.tx_tail_writes(0);
        assert_eq!(dev.tx_batch(0, &mut batch), batch_size);
        assert_eq!(
            model.tx_tail_writes(0) - before_tx,
            1,
            "TX batch {batch_size}"
        );
        model.step();
    }
    assert_eq!(model.rx_tail_writes(0) - rx0, 4);
    assert_eq!(model.tx_tail_writes(0) - tx0, 4);
}

#[test]
fn counters_match_the_device() {
    let (model, mut dev) = rig(&cfg(64, 2));
    dev.steer_udp_port(FEED_PORT, 1).unwrap();
    let mut bytes = 0u64;
    for i in 0..150u32 {
        let f = if i % 3 == 0 {
            udp(FEED_PORT, i)
        } else {
            tcp(80, i)
        };
        bytes += f.len() as u64;
        model.inject(&f);
    }
    model.step();
    let q0 = rx_all::<32>(&mut dev, 0);
    let q1 = rx_all::<32>(&mut dev, 1);
    assert_eq!(
        (q0.len(), q1.len()),
        (63, 50),
        "queue 0 ring holds 63 of 100"
    );
    let s = dev.stats();
    let c0 = model.queue_counts(0);
    let c1 = model.queue_counts(1);
    assert_eq!(s.rx_packets, c0.delivered + c1.delivered);
    assert_eq!(s.hw_rx_packets, s.rx_packets);
    assert_eq!(s.rx_dropped, c0.ring_full_drops + c1.ring_full_drops);
    assert_eq!(s.rx_dropped, 37);
    let got_bytes: u64 = q0.iter().chain(q1.iter()).map(|f| f.len() as u64).sum();
    assert_eq!(s.rx_bytes, got_bytes);
    assert_eq!(s.hw_rx_bytes, got_bytes);
    assert!(bytes > got_bytes);
    // Counters accumulate across reads (the registers clear on read).
    let mut batch: PacketBatch<'static, 8> = PacketBatch::new();
    for f in q1.iter().take(5) {
        let mut b = dev.pool().alloc().unwrap();
        assert!(b.fill(f));
        batch.push_back(b).unwrap();
    }
    assert_eq!(dev.tx_batch(1, &mut batch), 5);
    model.step();
    let s2 = dev.stats();
    assert_eq!(s2.hw_rx_packets, s.hw_rx_packets);
    assert_eq!((s2.tx_packets, s2.hw_tx_packets), (5, 5));
    assert_eq!(s2.tx_bytes, s2.hw_tx_bytes);
}

fn dead_init(
    model_cfg: ModelConfig,
    require_link: bool,
) -> (Result<(), InitError>, Duration, LinkState) {
    let model = Model::new(model_cfg);
    let _thread = model.spawn();
    let pool = leak_pool(64 * 3);
    let ms = 1_000_000;
    let c = IxgbeConfig {
        require_link,
        timeouts: Timeouts {
            reset_settle_ns: ms,
            reset_ns: 30 * ms,
            post_reset_delay_ns: ms,
            eeprom_ns: 30 * ms,
            dma_init_ns: 30 * ms,
            queue_enable_ns: 30 * ms,
            link_ns: 30 * ms,
        },
        ..cfg(64, 1)
    };
    let clock = real_clock();
    let start = Instant::now();
    let r = Ixgbe::init(model.regs(), pool, &mut HeapDma::default(), &clock, &c);
    let took = start.elapsed();
    let link = r.as_ref().map(|d| d.link()).unwrap_or(LinkState::Down);
    (r.map(|_| ()), took, link)
}

#[test]
fn device_that_never_answers_fails_each_wait_in_bounded_time() {
    let cases: [(ModelConfig, bool, InitError); 6] = [
        (ModelConfig::dead(), false, InitError::ResetTimeout),
        (
            ModelConfig {
                reset_stuck: true,
                ..ModelConfig::default()
            },
            false,
            InitError::ResetTimeout,
        ),
        (
            ModelConfig {
                eeprom_never_done: true,
                ..ModelConfig::default()
            },
            false,
            InitError::EepromTimeout,
        ),
        (
            ModelConfig {
                dma_init_never_done: true,
                ..ModelConfig::default()
            },
            false,
            InitError::DmaInitTimeout,
        ),
        (
            ModelConfig {
                queues_never_enable: true,
                ..ModelConfig::default()
            },
            false,
            InitError::RxQueueEnableTimeout(0),
        ),
        (
            ModelConfig {
                link_never_up: true,
                ..ModelConfig::default()
            },
            true,
            InitError::LinkTimeout,
        ),
    ];
    for (model_cfg, require_link, want) in cases {
        let (r, took, _) = dead_init(model_cfg, require_link);
        assert_eq!(r, Err(want));
        // Each timeout is 30 ms; allow for scheduling on a shared machine.
        assert!(took < Duration::from_millis(1500), "{want:?} took {took:?}");
        assert!(
            took >= Duration::from_millis(30),
            "{want:?} returned before its timeout"
        );
    }
    // Link never up without `require_link`: start, report the link down.
    let (r, _, link) = dead_init(
        ModelConfig {
            link_never_up: true,
            ..ModelConfig::default()
        },
        false,
    );
    assert_eq!(r, Ok(()));
    assert_eq!(link, LinkState::Down);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Arbitrary frames (any length, any bytes, some for us) never panic the
    /// driver, and every frame is accounted for exactly once.
    #[test]
    fn arbitrary_frames_are_all_accounted_for(
        frames in proptest::collection::vec(
            (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..5000)), 1..120)
    ) {
        let (model, mut dev) = rig(&cfg(64, 2));
        dev.steer_udp_port(FEED_PORT, 1).unwrap();
        let pool = dev.pool();
        let free0 = pool.free_count();
        for (ours, mut f) in frames.clone() {
            if ours && f.len() >= 6 {
                f[..6].copy_from_slice(&OWN_MAC);
            }
            model.inject(&f);
        }
        model.step();
        let got = rx_all::<16>(&mut dev, 0).len() + rx_all::<16>(&mut dev, 1).len();
        let s = dev.stats();
        let runts = frames.iter().filter(|(ours, f)| *ours && (6..14).contains(&f.len())).count() as u64;
        prop_assert_eq!(
            got as u64 + s.rx_dropped + s.rx_fragmented_dropped + model.l2_filtered() + s.rx_errors,
            frames.len() as u64
        );
        prop_assert_eq!(s.rx_errors, runts);
        prop_assert_eq!(pool.free_count(), free0);
    }
}

/// One core's loop over its queue pair: its own pool, started on its own
/// thread; every frame received is echoed from the same buffer (zero copy)
/// until `expect` frames came in or 10 s pass. Returns the frames and the
/// driver's counters.
fn core_loop(
    pair: QueuePair<ModelRegs>,
    expect: usize,
    started: &std::sync::Barrier,
) -> (Vec<Vec<u8>>, NicStats) {
    // Created here, on the owning thread: a pool never crosses cores.
    let pool = Mempool::new(&mut HeapDma::default(), 256, 2048).unwrap();
    let clock = real_clock();
    let id = pair.id();
    let mut q = pair.start(&pool, &clock).unwrap();
    started.wait();
    let mut got = Vec::new();
    let mut batch: PacketBatch<'_, 16> = PacketBatch::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < expect && Instant::now() < deadline {
        q.rx_batch(id, &mut batch);
        for p in batch.iter() {
            assert!(
                core::ptr::eq(p.pool(), &pool),
                "buffers come from this core's pool"
            );
            got.push(p.data().to_vec());
        }
        while !batch.is_empty() {
            if q.tx_batch(id, &mut batch) == 0 {
                std::thread::yield_now();
            }
        }
    }
    // Another queue's id moves nothing through this driver.
    assert_eq!(q.rx_batch(id + 1, &mut batch), 0);
    (got, q.stats())
}

#[test]
fn per_core_queue_pairs_each_own_a_queue_and_a_pool() {
    let model = Model::new(ModelConfig::default());
    let _thread = model.spawn();
    let clock = real_clock();
    let (mut port, pairs) = Ixgbe::init_port(
        model.regs(),
        &mut HeapDma::default(),
        &clock,
        &cfg(64, 2),
        2048,
    )
    .unwrap();
    assert!(port.link().is_up());
    port.steer_udp_port(FEED_PORT, 0).unwrap();
    port.steer_tcp_port(ORDER_PORT, 1).unwrap();
    assert_eq!(
        port.steer_udp_port(1, 2),
        Err(SteerError::NoSuchQueue(2)),
        "two queues"
    );
    const EACH: u32 = 40;
    let started = std::sync::Barrier::new(3);
    let (feed, orders) = std::thread::scope(|s| {
        let mut pairs = pairs.into_iter();
        let (p0, p1) = (pairs.next().unwrap(), pairs.next().unwrap());
        let feed_core = s.spawn(|| core_loop(p0, EACH as usize, &started));
        let order_core = s.spawn(|| core_loop(p1, EACH as usize, &started));
        started.wait();
        for i in 0..EACH {
            model.inject(&udp(FEED_PORT, i));
            model.inject(&tcp(ORDER_PORT, i));
            if i % 8 == 7 {
                // Stay well inside each 63-descriptor ring.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        (feed_core.join().unwrap(), order_core.join().unwrap())
    });
    let expected = |f: fn(u16, u32) -> Vec<u8>, port: u16| -> Vec<Vec<u8>> {
        (0..EACH).map(|i| f(port, i)).collect()
    };
    assert_eq!(
        feed.0,
        expected(udp, FEED_PORT),
        "the feed core saw only the feed, in order"
    );
    assert_eq!(
        orders.0,
        expected(tcp, ORDER_PORT),
        "the order core saw only its session"
    );
    for (stats, name) in [(feed.1, "feed"), (orders.1, "orders")] {
        assert_eq!(stats.rx_packets, EACH as u64, "{name}: {stats:?}");
        assert_eq!(stats.tx_packets, EACH as u64, "{name}: {stats:?}");
        assert_eq!(stats.rx_dropped, 0, "{name}: {stats:?}");
    }
    // Each echo left on its own core's queue.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut sent = Vec::new();
    while sent.len() < 2 * EACH as usize && Instant::now() < deadline {
        sent.extend(model.take_transmitted());
        std::thread::sleep(Duration::from_millis(1));
    }
    let on = |q: u16| -> Vec<Vec<u8>> {
        sent.iter()
            .filter(|(x, _)| *x == q)
            .map(|(_, f)| f.clone())
            .collect()
    };
    assert_eq!(on(0), expected(udp, FEED_PORT));
    assert_eq!(on(1), expected(tcp, ORDER_PORT));
    let device = port.device_stats();
    assert_eq!(device.hw_rx_packets, 2 * EACH as u64, "{device:?}");
}

#[test]
fn per_core_start_refuses_what_cannot_work_in_bounded_time() {
    let model = Model::new(ModelConfig::default());
    let clock = stepping_clock(&model);
    let uneven = IxgbeConfig {
        tx_queues: 1,
        ..cfg(64, 2)
    };
    assert!(matches!(
        Ixgbe::init_port(model.regs(), &mut HeapDma::default(), &clock, &uneven, 2048).err(),
        Some(InitError::BadConfig(_))
    ));
    assert!(matches!(
        Ixgbe::init_port(
            model.regs(),
            &mut HeapDma::default(),
            &clock,
            &cfg(64, 1),
            3000
        )
        .err(),
        Some(InitError::BadConfig(_))
    ));
    let (_, mut pairs) = Ixgbe::init_port(
        model.regs(),
        &mut HeapDma::default(),
        &clock,
        &cfg(64, 1),
        2048,
    )
    .unwrap();
    let pair = pairs.pop().unwrap();
    let small_bufs = Mempool::new(&mut HeapDma::default(), 256, 4096).unwrap();
    // A pool of another buffer size would overflow or waste the receive
    // buffers SRRCTL was programmed for.
    let pair = match pair.start(&small_bufs, &clock) {
        Err(InitError::BadConfig(_)) => {
            let (_, mut again) = Ixgbe::init_port(
                model.regs(),
                &mut HeapDma::default(),
                &clock,
                &cfg(64, 1),
                2048,
            )
            .unwrap();
            again.pop().unwrap()
        }
        other => panic!("expected BadConfig, got {:?}", other.err()),
    };
    let tiny = Mempool::new(&mut HeapDma::default(), 32, 2048).unwrap();
    assert!(matches!(
        pair.start(&tiny, &clock).err(),
        Some(InitError::PoolTooSmall { .. })
    ));
    // A device whose queues never enable: start fails within its timeout.
    let dead = Model::new(ModelConfig {
        queues_never_enable: true,
        ..ModelConfig::default()
    });
    let dead_clock = stepping_clock(&dead);
    let (_, mut pairs) = Ixgbe::init_port(
        dead.regs(),
        &mut HeapDma::default(),
        &dead_clock,
        &cfg(64, 1),
        2048,
    )
    .unwrap();
    let pool = Mempool::new(&mut HeapDma::default(), 256, 2048).unwrap();
    assert_eq!(
        pairs.pop().unwrap().start(&pool, &dead_clock).err(),
        Some(InitError::RxQueueEnableTimeout(0))
    );
}
