//! Per-frame cost of the receive path before the book: feed filter
//! (Ethernet/IPv4/UDP with both checksums), MoldUDP64 sequencer (in order,
//! the common case), and ITCH decode of each delivered message.
//!
//! Frames carry one ITCH add order (the typical small packet: 36-byte add in
//! a 58-byte MoldUDP64 payload, 100-byte frame) or ten messages.
//!
//! Run: `cargo bench -p protocol --bench feed_path -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use protocol::ethernet;
use protocol::filter::{Filter, Subscription, UdpFrameRepr};
use protocol::ipv4;
use protocol::itch::{AddOrderRepr, Header, Message};
use protocol::moldudp64::{Config, Endpoint, Line, PacketBuilder, Sequencer};
use types::{Nanos, Price, Side, Symbol};

const FEED: Subscription = Subscription {
    group: ipv4::Address([233, 54, 12, 111]),
    port: 26477,
};
const FRAMES: u64 = 1_000;

/// `FRAMES` consecutive frames of `per_packet` add orders each.
fn frames(per_packet: u64) -> Vec<Vec<u8>> {
    let repr = UdpFrameRepr::multicast(
        ethernet::Address([2, 0, 0, 0, 0, 1]),
        ipv4::Address([10, 0, 0, 1]),
        5000,
        FEED,
    );
    (0..FRAMES)
        .map(|i| {
            let mut mold = [0u8; 1400];
            let mut b = PacketBuilder::new(&mut mold, *b"0000000001", 1 + i * per_packet).unwrap();
            for k in 0..per_packet {
                let add = AddOrderRepr {
                    header: Header {
                        stock_locate: 7,
                        tracking_number: 0,
                        timestamp: 34_200_000_000_000 + i,
                    },
                    order_ref: i * per_packet + k,
                    side: Side::Buy,
                    shares: 100,
                    stock: Symbol::new("AAPL").unwrap(),
                    price: Price::new(190, 0),
                };
                add.emit(b.reserve(36).unwrap()).unwrap();
            }
            let n = b.finish();
            let mut frame = vec![0u8; repr.frame_len(n)];
            repr.emit(&mold[..n], &mut frame).unwrap();
            frame
        })
        .collect()
}

type Receiver = (Filter<4>, Sequencer<1024, 64>);

/// A fresh filter and sequencer; built outside the timed section because
/// `Sequencer::new` zeroes its 74 KB arena.
fn receiver() -> Receiver {
    let mut filter = Filter::<4>::new();
    filter.subscribe(FEED).unwrap();
    (filter, Sequencer::new(Config::new(Endpoint::default())))
}

fn run((filter, seq): &mut Receiver, frames: &[Vec<u8>], per_packet: u64) -> u64 {
    let mut sum = 0u64;
    for (t, f) in frames.iter().enumerate() {
        if let Some(d) = filter.process(f) {
            seq.on_packet(Line::A, d.payload, Nanos(t as u64), &mut |_, m| {
                if let Ok(Message::AddOrder(a)) = Message::parse(m) {
                    sum = sum.wrapping_add(a.order_ref());
                }
            });
        }
    }
    assert_eq!(seq.counters().delivered, frames.len() as u64 * per_packet);
    sum
}

fn filter_only(frames: &[Vec<u8>]) -> usize {
    let mut filter = Filter::<4>::new();
    filter.subscribe(FEED).unwrap();
    frames
        .iter()
        .filter_map(|f| filter.process(f))
        .map(|d| d.payload.len())
        .sum()
}

fn bench(c: &mut Criterion) {
    let one = frames(1);
    let ten = frames(10);
    assert_eq!(one[0].len(), 100);
    let mut g = c.benchmark_group("feed_path");
    g.sample_size(20);
    g.throughput(Throughput::Elements(FRAMES));
    g.bench_function("filter_1msg_frames", |b| {
        b.iter(|| filter_only(black_box(&one)))
    });
    g.bench_function("filter_sequencer_itch_1msg_frames", |b| {
        b.iter_batched_ref(
            receiver,
            |r| run(r, black_box(&one), 1),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("filter_sequencer_itch_10msg_frames", |b| {
        b.iter_batched_ref(
            receiver,
            |r| run(r, black_box(&ten), 10),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
